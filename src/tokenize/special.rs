//! Special tokens matched whole in the text before anything else sees it: `[SEP]` typed into
//! a query is BERT's separator, `<|im_start|>` in a prompt is the chat template's control token.
//! Matching is leftmost-longest (at the first position where any token matches, the longest
//! one), as `tokenizers` matches its added vocabulary.

/// A piece of text cut by [`SpecialTokens::split`]: plain text, or one special token's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text between special tokens (never empty).
    Text(&'a str),
    /// A special token found in the text.
    Token(u32),
}

/// A set of literal tokens to find in text, bucketed by first byte so the scan only stops at
/// bytes some token starts with.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecialTokens {
    /// Token texts and ids, sorted by first byte, then longest first.
    tokens: Vec<(Box<str>, u32)>,
    /// `tokens[starts[b]..starts[b + 1]]` are the tokens whose first byte is `b`.
    starts: Vec<u32>,
}

impl SpecialTokens {
    /// The matcher for `tokens` (text, id). Empty texts are dropped (they would match
    /// everywhere); of two equal texts the first is kept.
    pub(crate) fn new(tokens: impl IntoIterator<Item = (String, u32)>) -> Self {
        let mut tokens: Vec<(Box<str>, u32)> = tokens.into_iter().filter(|(t, _)| !t.is_empty()).map(|(t, id)| (t.into_boxed_str(), id)).collect();
        // Stable: equal texts keep their order, and the first of them is the one matched.
        tokens.sort_by(|(a, _), (b, _)| a.as_bytes()[0].cmp(&b.as_bytes()[0]).then(b.len().cmp(&a.len())));
        let mut starts = vec![0u32; 257];
        for (t, _) in &tokens {
            starts[usize::from(t.as_bytes()[0]) + 1] += 1;
        }
        for b in 0..256 {
            starts[b + 1] += starts[b];
        }
        SpecialTokens { tokens, starts }
    }

    /// The texts of the tokens, for checks at load time.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|(t, _)| &**t)
    }

    /// Calls `each` with the pieces of `text` in order: the text between tokens (skipping
    /// empty stretches) and each token found.
    pub(crate) fn split<'a>(&self, text: &'a str, mut each: impl FnMut(Piece<'a>)) {
        if self.tokens.is_empty() {
            if !text.is_empty() {
                each(Piece::Text(text));
            }
            return;
        }
        let bytes = text.as_bytes();
        let mut done = 0;
        let mut at = 0;
        while at < bytes.len() {
            let b = usize::from(bytes[at]);
            let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
            // Tokens are UTF-8, so their first byte never matches inside a character: `at` is
            // a character boundary whenever one matches.
            if let Some((token, id)) = self.tokens[lo..hi].iter().find(|(t, _)| bytes[at..].starts_with(t.as_bytes())) {
                if done < at {
                    each(Piece::Text(&text[done..at]));
                }
                each(Piece::Token(*id));
                at += token.len();
                done = at;
            } else {
                at += 1;
            }
        }
        if done < bytes.len() {
            each(Piece::Text(&text[done..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Piece, SpecialTokens};

    fn pieces<'a>(s: &SpecialTokens, text: &'a str) -> Vec<Piece<'a>> {
        let mut out = Vec::new();
        s.split(text, |p| out.push(p));
        out
    }

    #[test]
    fn finds_leftmost_longest_tokens() {
        let s = SpecialTokens::new([("<a>".to_string(), 1), ("<a><b>".to_string(), 2), ("b>".to_string(), 3), (String::new(), 4)]);
        assert_eq!(pieces(&s, "x<a><b>y<a>b>"), [Piece::Text("x"), Piece::Token(2), Piece::Text("y"), Piece::Token(1), Piece::Token(3)]);
        assert_eq!(pieces(&s, "é<a"), [Piece::Text("é<a")]);
        assert_eq!(pieces(&s, ""), []);
        assert_eq!(pieces(&SpecialTokens::new([]), "plain"), [Piece::Text("plain")]);
    }
}
