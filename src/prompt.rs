//! Prompt building: a grounded ChatML prompt with numbered sources that fits the model's
//! context, dropping the lowest-ranked sources first.

use crate::chunk::Chunk;

/// The instruction that keeps the model to the sources.
pub const SYSTEM: &str = "You are a helpful assistant. Answer the question using only the numbered sources. \
Cite the sources you use like [1]. If the sources do not contain the answer, say that the documents do not contain it.";

/// Wraps a system and a user message in the ChatML template (SmolLM2, Qwen and others),
/// leaving the assistant's turn open.
pub fn chatml(system: &str, user: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}

/// A prompt and how many of the offered sources it holds (always the best-ranked ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The full ChatML text.
    pub text: String,
    /// How many sources, from the top of the ranking, are in it.
    pub sources: usize,
    /// Its length in the generator's tokens.
    pub tokens: usize,
}

/// Builds the prompt for `question` over `sources` (best first) in at most `budget` tokens as
/// counted by `count`; sources are dropped from the bottom until it fits. If even one source
/// does not fit, that source's text is shortened.
pub fn build(question: &str, sources: &[&Chunk], budget: usize, count: &dyn Fn(&str) -> usize) -> Prompt {
    let render = |parts: &[String]| chatml(SYSTEM, &user_message(question, parts));
    let mut parts: Vec<String> = sources.iter().enumerate().map(|(i, c)| source_block(i + 1, c, &c.text)).collect();
    let words: Vec<&str> = sources.first().map_or_else(Vec::new, |c| c.text.split_whitespace().collect());
    let mut kept = words.len();
    loop {
        let text = render(&parts);
        let tokens = count(&text);
        if tokens <= budget || parts.is_empty() {
            return Prompt { sources: parts.len(), text, tokens };
        }
        if parts.len() > 1 {
            parts.pop();
            continue;
        }
        // One source left and still too long: keep a proportional share of its words. The
        // share strictly shrinks each round, so this ends.
        let over = tokens - budget;
        let source_tokens = count(&parts[0]).max(1);
        let next = kept * source_tokens.saturating_sub(over) / source_tokens * 9 / 10;
        if next == 0 || next >= kept {
            parts.clear();
            continue;
        }
        kept = next;
        parts[0] = source_block(1, sources[0], &format!("{} …", words[..kept].join(" ")));
    }
}

fn source_block(n: usize, chunk: &Chunk, text: &str) -> String {
    let heading = crate::chunk::context_line(&chunk.title, &chunk.headings);
    format!("[{n}] {heading}\n{text}")
}

fn user_message(question: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        return format!("Question: {question}");
    }
    format!("Sources:\n\n{}\n\nQuestion: {question}", parts.join("\n\n"))
}

/// The source numbers cited as `[n]` in an answer, in order of first appearance.
pub fn citations(answer: &str, sources: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        for part in rest[..close].split(',') {
            if let Ok(n) = part.trim().parse::<usize>() {
                if (1..=sources).contains(&n) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(title: &str, text: &str) -> Chunk {
        Chunk { url: "u".into(), title: title.into(), headings: vec![], anchor: None, text: text.into() }
    }

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn includes_numbered_sources_in_chatml() {
        let a = chunk("Ownership", "Each value has an owner.");
        let b = chunk("Borrowing", "References borrow values.");
        let p = build("What is ownership?", &[&a, &b], 1000, &words);
        assert_eq!(p.sources, 2);
        assert!(p.text.starts_with("<|im_start|>system\n"));
        assert!(p.text.ends_with("<|im_start|>assistant\n"));
        assert!(p.text.contains("[1] Ownership\nEach value has an owner.\n\n[2] Borrowing\n"));
        assert!(p.text.contains("Question: What is ownership?"));
        assert_eq!(p.tokens, words(&p.text));
    }

    #[test]
    fn drops_lowest_ranked_sources_first() {
        let long = "word ".repeat(50);
        let (a, b, c) = (chunk("A", &long), chunk("B", &long), chunk("C", &long));
        let full = build("q", &[&a, &b, &c], 10_000, &words);
        let p = build("q", &[&a, &b, &c], full.tokens - 10, &words);
        assert_eq!(p.sources, 2);
        assert!(p.text.contains("[1] A") && p.text.contains("[2] B") && !p.text.contains("[3] C"));
        assert!(p.tokens <= full.tokens - 10);
    }

    #[test]
    fn shortens_a_single_source_that_cannot_fit() {
        let a = chunk("A", &"word ".repeat(500));
        let p = build("q", &[&a], 200, &words);
        assert_eq!(p.sources, 1);
        assert!(p.tokens <= 200, "{}", p.tokens);
        let p = build("q", &[&a], 5, &words);
        assert_eq!(p.sources, 0);
        // A counter that charges far more for the source than for anything else still ends.
        let lopsided = |s: &str| if s.contains("word") { 10 * words(s) } else { words(s) };
        for budget in [30, 60, 120, 400, 900] {
            let p = build("q", &[&a], budget, &lopsided);
            assert!(p.tokens <= budget || p.sources == 0, "{budget}: {}", p.tokens);
        }
    }

    #[test]
    fn finds_citations() {
        assert_eq!(citations("See [2] and [1, 3]; not [9] or [x].", 3), vec![2, 1, 3]);
        assert!(citations("no cites", 3).is_empty());
    }
}
