//! Sentence splitting for passages and answers: byte ranges of sentences, so an extract can be
//! highlighted inside its passage and a generated answer checked one sentence at a time.

/// Words that end with a full stop without ending the sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "cf", "mr", "mrs", "ms", "dr", "st", "jr", "sr", "fig", "approx", "ca", "c", "inc", "ltd", "co", "gen", "col", "lt", "sgt",
    "capt", "rev", "prof", "mt", "ft", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
];

/// Byte ranges `[start, end)` of the sentences in `text`, trimmed, in order. A sentence ends at
/// `.`, `!` or `?` (with any closing quotes or brackets) followed by white space, unless the
/// word before the stop is an abbreviation or a single letter (an initial); a line break ends
/// one too, so list items, headings and code lines stand alone.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let end = match c {
            b'\n' => Some(i),
            b'.' | b'!' | b'?' => {
                let mut j = i + 1;
                while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')' | b']' | b'.' | b'!' | b'?') {
                    j += 1;
                }
                let at_space = j >= bytes.len() || bytes[j].is_ascii_whitespace();
                (at_space && !(c == b'.' && is_abbreviation(&text[start..i]))).then_some(j)
            }
            _ => None,
        };
        if let Some(end) = end {
            push(text, start, end, &mut out);
            start = end;
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    push(text, start, text.len(), &mut out);
    out
}

/// Whether the last word of `before` (the sentence so far, up to a full stop) is an
/// abbreviation, an initial or a list number ("1."), so the stop does not end the sentence.
fn is_abbreviation(before: &str) -> bool {
    let word = before.rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
    let lower = word.to_lowercase();
    let single_letter = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
    let list_marker = !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) && before.trim_start() == word;
    single_letter || list_marker || ABBREVIATIONS.contains(&lower.as_str())
}

fn push(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let piece = &text[start..end];
    let trimmed = piece.trim();
    if !trimmed.is_empty() {
        let lead = piece.len() - piece.trim_start().len();
        out.push((start + lead, start + lead + trimmed.len()));
    }
}

/// Number of words in `text`.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).iter().map(|&(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn splits_at_stops_and_line_breaks() {
        let text = "Ownership is a set of rules. Yes!\n1. Each value has an owner.\nThe value 3.5 is dropped at scope end";
        assert_eq!(split(text), vec!["Ownership is a set of rules.", "Yes!", "1. Each value has an owner.", "The value 3.5 is dropped at scope end"]);
        assert!(sentences("").is_empty());
        assert!(sentences(" \n\n ").is_empty());
    }

    #[test]
    fn keeps_abbreviations_initials_and_quotes_inside() {
        let text = "He met Dr. Smith in the U.S. in 1862, e.g. at St. Louis. J. K. Rowling wrote it. \"Stop.\" She left (quietly.) Then?";
        assert_eq!(
            split(text),
            vec!["He met Dr. Smith in the U.S. in 1862, e.g. at St. Louis.", "J. K. Rowling wrote it.", "\"Stop.\"", "She left (quietly.)", "Then?"]
        );
    }

    #[test]
    fn ranges_are_char_boundaries_in_unicode_text() {
        let text = "Café au lait — très bon. Ünïcödé ends here… Next one!";
        for (a, b) in sentences(text) {
            assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
        }
        assert_eq!(split(text), vec!["Café au lait — très bon.", "Ünïcödé ends here… Next one!"]);
    }
}
