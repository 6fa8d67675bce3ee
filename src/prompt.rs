//! Prompt building: a grounded ChatML prompt over numbered evidence (the sentences chosen by
//! [`crate::extract`] with their neighbours and heading path) that fits a token budget,
//! dropping the lowest-ranked evidence first. Short prompts give a faster first token and
//! leave a small model less room to wander.

/// The instruction that keeps the model to the evidence. Tuned on the cmu-qa-dev set: short,
/// imperative, and asking for the evidence's own words.
pub const SYSTEM: &str = "Answer the question in one or two sentences, using only the numbered evidence and its exact words. \
Cite the evidence you use like [1]. If the evidence does not answer the question, say that the documents do not contain it.";

/// What opens the user's message when there is evidence.
const EVIDENCE: &str = "Evidence:\n";

/// The text every prompt with evidence opens with, whatever the question: the system message
/// and the template up to the first block. A generator reads it once and keeps its KV cache
/// ([`crate::generate::Generator::set_opening`]), so an answer's prefill reads only the
/// evidence and the question.
pub fn opening() -> String {
    chatml_open(SYSTEM, EVIDENCE)
}

/// One numbered block of evidence: where it comes from and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Title and heading path, e.g. `Ownership: The Stack and the Heap`.
    pub context: String,
    /// The evidence sentences.
    pub text: String,
}

/// Wraps a system and a user message in the ChatML template (SmolLM2, Qwen and others),
/// leaving the assistant's turn open.
pub fn chatml(system: &str, user: &str) -> String {
    format!("{}<|im_end|>\n<|im_start|>assistant\n", chatml_open(system, user))
}

/// The ChatML text up to the end of `user`'s text, the user's turn still open.
fn chatml_open(system: &str, user: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}")
}

/// A prompt and how many of the offered blocks it holds (always the best-ranked ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The full ChatML text.
    pub text: String,
    /// How many blocks, from the top of the ranking, are in it.
    pub sources: usize,
    /// Its length in the generator's tokens.
    pub tokens: usize,
}

/// Builds the prompt for `question` over `blocks` (best first) in at most `budget` tokens as
/// counted by `count`; blocks are dropped from the bottom until it fits. If even one block
/// does not fit, its text is shortened; if nothing fits, the prompt holds no block.
pub fn build(question: &str, blocks: &[Block], budget: usize, count: &dyn Fn(&str) -> usize) -> Prompt {
    let render = |parts: &[String]| chatml(SYSTEM, &user_message(question, parts));
    let mut parts: Vec<String> = blocks.iter().enumerate().map(|(i, b)| block(i + 1, &b.context, &b.text)).collect();
    let words: Vec<&str> = blocks.first().map_or_else(Vec::new, |b| b.text.split_whitespace().collect());
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
        // One block left and still too long: keep a proportional share of its words. The
        // share strictly shrinks each round, so this ends.
        let over = tokens - budget;
        let block_tokens = count(&parts[0]).max(1);
        let next = kept * block_tokens.saturating_sub(over) / block_tokens * 9 / 10;
        if next == 0 || next >= kept {
            parts.clear();
            continue;
        }
        kept = next;
        parts[0] = block(1, &blocks[0].context, &format!("{} …", words[..kept].join(" ")));
    }
}

fn block(n: usize, context: &str, text: &str) -> String {
    if context.is_empty() {
        format!("[{n}] {text}")
    } else {
        format!("[{n}] ({context}) {text}")
    }
}

fn user_message(question: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        return format!("Question: {question}");
    }
    format!("{EVIDENCE}{}\n\nQuestion: {question}", parts.join("\n"))
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

    fn block(context: &str, text: &str) -> Block {
        Block { context: context.into(), text: text.into() }
    }

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn includes_numbered_sources_in_chatml() {
        let a = block("Ownership", "Each value has an owner.");
        let b = block("", "References borrow values.");
        let p = build("What is ownership?", &[a, b], 1000, &words);
        assert_eq!(p.sources, 2);
        assert!(p.text.starts_with("<|im_start|>system\n"));
        assert!(p.text.ends_with("<|im_start|>assistant\n"));
        assert!(p.text.contains("Evidence:\n[1] (Ownership) Each value has an owner.\n[2] References borrow values.\n\nQuestion"));
        assert!(p.text.contains("Question: What is ownership?"));
        assert_eq!(p.tokens, words(&p.text));
        assert!(p.text.starts_with(&opening()), "every prompt with evidence opens alike");
        assert!(!build("What is ownership?", &[], 1000, &words).text.starts_with(&opening()));
    }

    #[test]
    fn drops_lowest_ranked_sources_first() {
        let long = "word ".repeat(50);
        let blocks = [block("A", &long), block("B", &long), block("C", &long)];
        let full = build("q", &blocks, 10_000, &words);
        let p = build("q", &blocks, full.tokens - 10, &words);
        assert_eq!(p.sources, 2);
        assert!(p.text.contains("[1] (A)") && p.text.contains("[2] (B)") && !p.text.contains("[3] (C)"));
        assert!(p.tokens <= full.tokens - 10);
    }

    #[test]
    fn shortens_a_single_source_that_cannot_fit() {
        let a = [block("A", &"word ".repeat(500))];
        let p = build("q", &a, 200, &words);
        assert_eq!(p.sources, 1);
        assert!(p.tokens <= 200, "{}", p.tokens);
        let p = build("q", &a, 5, &words);
        assert_eq!(p.sources, 0);
        // A counter that charges far more for the source than for anything else still ends.
        let lopsided = |s: &str| if s.contains("word") { 10 * words(s) } else { words(s) };
        for budget in [30, 60, 120, 400, 900] {
            let p = build("q", &a, budget, &lopsided);
            assert!(p.tokens <= budget || p.sources == 0, "{budget}: {}", p.tokens);
        }
    }

    #[test]
    fn finds_citations() {
        assert_eq!(citations("See [2] and [1, 3]; not [9] or [x].", 3), vec![2, 1, 3]);
        assert!(citations("no cites", 3).is_empty());
    }
}
