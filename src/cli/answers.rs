//! `wasmrag eval --answers`: answer quality on a QA set (`qa.jsonl`: `id`, `question`,
//! `answers`, `doc_id`) beside a BEIR corpus. Scores the extractive and the generated answer
//! against the gold answers (SQuAD normalisation), counts grounding failures, and measures the
//! not-found rate on answerable questions and on off-topic ones (questions about articles left
//! out of the index, and any extra questions given).

use crate::eval::EvalError;
use std::collections::HashSet;
use std::path::Path;

/// One question with its gold answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Qa {
    /// Its id.
    pub id: String,
    /// The question.
    pub question: String,
    /// Acceptable answers as written by the annotators.
    pub answers: Vec<String>,
    /// The corpus id of the document that answers it (empty when none does).
    pub doc_id: String,
}

impl Qa {
    /// Whether its article falls in the half that tunes (id hashing even); the other half checks.
    pub fn tunes(&self) -> bool {
        hash(&self.doc_id).is_multiple_of(2)
    }

    /// Whether every gold answer is a bare yes or no: such questions are skipped when scoring
    /// whether an answer contains the gold one.
    pub fn is_yes_no(&self) -> bool {
        !self.answers.is_empty() && self.answers.iter().all(|a| matches!(normalise(a).as_str(), "yes" | "no"))
    }
}

/// Reads a `qa.jsonl` file.
pub fn load(path: &Path) -> Result<Vec<Qa>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    let bad = |line: usize, message: String| EvalError::Format { path: path.display().to_string(), line, message };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
        let string = |key: &str| match &v[key] {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::Null if key == "doc_id" => Ok(String::new()),
            _ => Err(bad(i + 1, format!("missing \"{key}\""))),
        };
        let answers = match &v["answers"] {
            serde_json::Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
            _ => return Err(bad(i + 1, "missing \"answers\" (a list of strings)".into())),
        };
        out.push(Qa { id: string("id")?, question: string("question")?, answers, doc_id: string("doc_id")? });
    }
    if out.is_empty() {
        return Err(EvalError::Empty(format!("{} holds no question", path.display())));
    }
    Ok(out)
}

/// Reads questions without answers, one per line (blank lines skipped): off-topic questions
/// that should get the not-found answer.
pub fn load_lines(path: &Path) -> Result<Vec<Qa>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    let questions = text.lines().map(str::trim).filter(|l| !l.is_empty());
    Ok(questions.enumerate().map(|(i, q)| Qa { id: format!("off-topic-{}", i + 1), question: q.to_string(), answers: vec![], doc_id: String::new() }).collect())
}

/// SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces.
pub fn normalise(text: &str) -> String {
    let lower: String = text.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' }).collect();
    lower.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).collect::<Vec<_>>().join(" ")
}

/// Whether `text` contains one of the gold `answers` (both normalised; whole words).
pub fn contains_gold(text: &str, answers: &[String]) -> bool {
    let padded = format!(" {} ", normalise(text));
    answers.iter().map(|a| normalise(a)).filter(|a| !a.is_empty()).any(|a| padded.contains(&format!(" {a} ")))
}

/// SQuAD token F1 of `text` against the best-matching gold answer.
pub fn f1(text: &str, answers: &[String]) -> f64 {
    let predicted: Vec<String> = normalise(text).split_whitespace().map(str::to_string).collect();
    answers
        .iter()
        .map(|a| {
            let gold: Vec<String> = normalise(a).split_whitespace().map(str::to_string).collect();
            let mut left = gold.clone();
            let mut common = 0;
            for w in &predicted {
                if let Some(i) = left.iter().position(|g| g == w) {
                    left.swap_remove(i);
                    common += 1;
                }
            }
            if common == 0 {
                return 0.0;
            }
            let p = common as f64 / predicted.len() as f64;
            let r = common as f64 / gold.len() as f64;
            2.0 * p * r / (p + r)
        })
        .fold(0.0, f64::max)
}

/// FNV-1a hash of `s`: the same on every run and machine, for fixed samples and splits.
pub fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// A deterministic sample of at most `limit` items: those with the smallest FNV-1a hash of
/// their key, so `--limit` picks the same questions on every run and machine.
pub fn sample<T>(items: Vec<T>, limit: Option<usize>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let Some(limit) = limit else { return items };
    let mut keyed: Vec<(u64, T)> = items.into_iter().map(|t| (hash(key(&t)), t)).collect();
    keyed.sort_by_key(|(h, _)| *h);
    keyed.into_iter().take(limit).map(|(_, t)| t).collect()
}

/// The corpus ids left out of the index so their questions are off-topic: every `nth` id in
/// sorted order (none when `nth` is 0).
pub fn held_out(ids: &[String], nth: usize) -> HashSet<String> {
    if nth == 0 {
        return HashSet::new();
    }
    let mut sorted: Vec<&String> = ids.iter().collect();
    sorted.sort();
    sorted.into_iter().enumerate().filter(|(i, _)| i % nth == nth - 1).map(|(_, id)| id.clone()).collect()
}

/// The median of `values` (0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn squad_normalisation_and_containment() {
        assert_eq!(normalise("The  Quick, brown fox!"), "quick brown fox");
        assert!(contains_gold("He began his career in 1832.", &gold(&["1832."])));
        assert!(contains_gold("It takes four bytes", &gold(&["4 bytes", "four bytes"])));
        assert!(!contains_gold("In 18320 he left", &gold(&["1832"])));
        assert!(!contains_gold("anything", &gold(&["", "  "])));
    }

    #[test]
    fn token_f1() {
        assert_eq!(f1("18 months", &gold(&["18 months"])), 1.0);
        assert_eq!(f1("nothing here", &gold(&["18 months"])), 0.0);
        // Two of three predicted words are gold; both gold words found.
        assert!((f1("18 long months", &gold(&["18 months"])) - 0.8).abs() < 1e-9);
    }

    #[test]
    fn yes_no_questions_and_samples() {
        let qa = |answers: &[&str]| Qa { id: "q".into(), question: "?".into(), answers: gold(answers), doc_id: "d".into() };
        assert!(qa(&["yes", "Yes."]).is_yes_no());
        assert!(!qa(&["yes", "1832"]).is_yes_no());
        let items: Vec<String> = (0..100).map(|i| format!("id{i}")).collect();
        let a = sample(items.clone(), Some(10), |s| s.as_str());
        let b = sample(items.clone(), Some(10), |s| s.as_str());
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        assert_eq!(sample(items, None, |s| s.as_str()).len(), 100);
        let ids: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
        assert_eq!(held_out(&ids, 5), HashSet::from(["d4".to_string(), "d9".to_string()]));
        assert!(held_out(&ids, 0).is_empty());
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
