//! The requests a page sends, decoded and checked natively: `ask` options and documents as
//! JavaScript spells them. [`crate::wasm`] only turns JS values into these types, so what a
//! message may hold is tested, and fuzzed (`fuzz/fuzz_targets/messages.rs`), without a browser.
//! Every value is range-checked here: a huge `sources` would otherwise ask retrieval for that
//! many passages, and a NaN temperature would silently mean greedy decoding.

use crate::chunk::{Document, Format};
use crate::generate::{CancelFlag, GenerateOptions};
use crate::rag::{AskOptions, DEFAULT_MIN_COSINE};
use serde::Deserialize;
use std::ops::RangeInclusive;
use thiserror::Error;

/// Why a request was refused; every case is the `invalid_option` code in JavaScript.
#[derive(Debug, Clone, Error, PartialEq)]
#[non_exhaustive]
pub enum MessageError {
    /// A field name the request does not have (a misspelling, usually).
    #[error("invalid {what}: unknown field `{field}`, expected one of {expected}")]
    UnknownField {
        /// Which request.
        what: &'static str,
        /// The name given.
        field: String,
        /// The names it takes, comma-separated.
        expected: String,
    },
    /// A value outside the range its field takes.
    #[error("invalid ask options: `{field}` must be {expected}, not {value}")]
    OutOfRange {
        /// The field, as JavaScript spells it.
        field: &'static str,
        /// The allowed range, in words.
        expected: String,
        /// The value given.
        value: String,
    },
    /// A document format other than markdown, html or text.
    #[error("unknown document format {0:?} (use markdown, html or text)")]
    UnknownFormat(String),
}

impl MessageError {
    /// A stable, machine-readable name for this error, the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        "invalid_option"
    }
}

/// The option names `ask` takes, as JavaScript spells them.
pub const ASK_FIELDS: &[&str] = &[
    "sources",
    "evidence",
    "minCosine",
    "minExtract",
    "declineUnknownNames",
    "minSupport",
    "copyBias",
    "maxTokens",
    "temperature",
    "topP",
    "seed",
    "repeatPenalty",
];

/// Most sources an answer may draw on (more would not fit the prompt anyway).
pub const MAX_SOURCES: usize = 32;

/// Refuses a field name that `allowed` does not hold. Decoders that read only the names they
/// know (serde-wasm-bindgen's) would otherwise ignore a misspelt option silently.
pub fn check_fields<'a>(what: &'static str, fields: impl IntoIterator<Item = &'a str>, allowed: &[&str]) -> Result<(), MessageError> {
    match fields.into_iter().find(|f| !allowed.contains(f)) {
        Some(field) => Err(MessageError::UnknownField { what, field: field.to_string(), expected: allowed.join(", ") }),
        None => Ok(()),
    }
}

/// `ask` options as JavaScript passes them; every field is optional.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AskMessage {
    /// Most sources to answer from.
    pub sources: Option<usize>,
    /// Most evidence sentences in the prompt ([`AskOptions::evidence`]).
    pub evidence: Option<usize>,
    /// The least cosine a passage needs for the question to count as answerable.
    pub min_cosine: Option<f32>,
    /// The least score the best sentence needs.
    pub min_extract: Option<f32>,
    /// The least support a generated sentence needs to be shown.
    pub min_support: Option<f32>,
    /// [`AskOptions::decline_unknown_names`].
    pub decline_unknown_names: Option<bool>,
    /// [`GenerateOptions::copy_bias`].
    pub copy_bias: Option<f32>,
    /// Most tokens to generate.
    pub max_tokens: Option<usize>,
    /// Sampling temperature (0 is greedy).
    pub temperature: Option<f64>,
    /// Nucleus mass.
    pub top_p: Option<f64>,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// Repetition penalty.
    pub repeat_penalty: Option<f32>,
}

/// `value` if it lies in `range`, else the error naming `field`.
fn within<T: PartialOrd + std::fmt::Display>(field: &'static str, value: Option<T>, range: RangeInclusive<T>) -> Result<Option<T>, MessageError> {
    match value {
        Some(v) if !range.contains(&v) => {
            Err(MessageError::OutOfRange { field, expected: format!("between {} and {}", range.start(), range.end()), value: v.to_string() })
        }
        v => Ok(v),
    }
}

impl AskMessage {
    /// The pipeline's options, defaults filled in and every value range-checked; `cancel` is
    /// the flag that stops this answer.
    pub fn into_options(self, cancel: CancelFlag) -> Result<AskOptions, MessageError> {
        let d = AskOptions::default();
        let g = GenerateOptions::default();
        let top_p = within("topP", self.top_p, 0.0..=1.0)?;
        if top_p == Some(0.0) {
            return Err(MessageError::OutOfRange { field: "topP", expected: "above 0 and at most 1".into(), value: "0".into() });
        }
        let mut generate = g.clone();
        generate.copy_bias = within("copyBias", self.copy_bias, -100.0..=100.0)?.unwrap_or(g.copy_bias);
        generate.max_tokens = within("maxTokens", self.max_tokens, 1..=4096)?.unwrap_or(g.max_tokens);
        let temperature = within("temperature", self.temperature, 0.0..=10.0)?;
        // Below 0.01 the scaled logits overflow f32; 0 itself means greedy.
        if let Some(t) = temperature.filter(|&t| t > 0.0 && t < 0.01) {
            return Err(MessageError::OutOfRange { field: "temperature", expected: "0 (greedy) or between 0.01 and 10".into(), value: t.to_string() });
        }
        generate.temperature = temperature.unwrap_or(g.temperature);
        generate.top_p = top_p.or(g.top_p);
        generate.seed = self.seed.unwrap_or(g.seed);
        generate.repeat_penalty = within("repeatPenalty", self.repeat_penalty, 0.01..=100.0)?.unwrap_or(g.repeat_penalty);
        generate.cancel = cancel;
        let mut options = d.clone();
        options.sources = within("sources", self.sources, 1..=MAX_SOURCES)?.unwrap_or(d.sources);
        options.evidence = within("evidence", self.evidence, 1..=MAX_SOURCES)?.unwrap_or(d.evidence);
        options.min_cosine = within("minCosine", self.min_cosine, -1.0..=1.0)?.unwrap_or(DEFAULT_MIN_COSINE);
        options.min_extract = within("minExtract", self.min_extract, -1000.0..=1000.0)?.unwrap_or(d.min_extract);
        options.min_support = within("minSupport", self.min_support, 0.0..=1.0)?.unwrap_or(d.min_support);
        options.decline_unknown_names = self.decline_unknown_names.unwrap_or(d.decline_unknown_names);
        options.generate = generate;
        Ok(options)
    }
}

/// A document as JavaScript passes it: `{url, text, format?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentMessage {
    /// The page's URL, as results link to it.
    pub url: String,
    /// Its text: Markdown, HTML or plain.
    pub text: String,
    /// `markdown`/`md`, `html` or `text`/`txt`; by default the URL's extension, else text.
    pub format: Option<String>,
}

/// The names a document takes.
pub const DOCUMENT_FIELDS: &[&str] = &["url", "text", "format"];

impl DocumentMessage {
    /// The document to index, its format resolved.
    pub fn into_document(self) -> Result<Document, MessageError> {
        let format = match self.format.as_deref() {
            Some("markdown" | "md") => Format::Markdown,
            Some("html") => Format::Html,
            Some("text" | "txt") => Format::Text,
            Some(other) => return Err(MessageError::UnknownFormat(other.to_string())),
            None => Format::from_path(&self.url).unwrap_or(Format::Text),
        };
        Ok(Document { url: self.url, format, bytes: self.text.into_bytes() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(json: &str) -> Result<AskOptions, MessageError> {
        serde_json::from_str::<AskMessage>(json).map_err(|e| panic!("{json}: {e}")).and_then(|m| m.into_options(CancelFlag::default()))
    }

    #[test]
    fn ask_options_take_their_defaults_and_refuse_values_out_of_range() {
        let d = ask("{}").unwrap();
        assert_eq!((d.sources, d.generate.max_tokens, d.min_cosine), (AskOptions::default().sources, 256, DEFAULT_MIN_COSINE));
        assert_eq!(d.evidence, AskOptions::default().evidence);
        let set = ask(r#"{"sources": 2, "evidence": 3, "maxTokens": 8, "temperature": 0.7, "topP": 0.9, "seed": 3}"#).unwrap();
        assert_eq!(
            (set.sources, set.evidence, set.generate.max_tokens, set.generate.temperature, set.generate.top_p, set.generate.seed),
            (2, 3, 8, 0.7, Some(0.9), 3)
        );
        assert!(d.decline_unknown_names && !ask(r#"{"declineUnknownNames": false}"#).unwrap().decline_unknown_names);
        for bad in [
            r#"{"sources": 0}"#,
            r#"{"sources": 1000000}"#,
            r#"{"evidence": 0}"#,
            r#"{"maxTokens": 0}"#,
            r#"{"temperature": -1}"#,
            r#"{"temperature": 1e-9}"#,
            r#"{"topP": 0}"#,
            r#"{"topP": 1.5}"#,
        ] {
            let err = ask(bad).unwrap_err();
            assert!(matches!(err, MessageError::OutOfRange { .. }), "{bad}: {err}");
            assert_eq!(err.code(), "invalid_option");
        }
        assert!(serde_json::from_str::<AskMessage>(r#"{"maxTokenz": 8}"#).is_err(), "unknown fields are refused");
    }

    #[test]
    fn field_names_are_checked_and_documents_get_their_format() {
        assert_eq!(check_fields("ask options", ["sources", "topP"], ASK_FIELDS), Ok(()));
        let err = check_fields("ask options", ["sources", "maxTokenz"], ASK_FIELDS).unwrap_err();
        assert!(err.to_string().contains("unknown field `maxTokenz`"), "{err}");
        let doc = |format: Option<&str>, url: &str| DocumentMessage { url: url.into(), text: "# A".into(), format: format.map(str::to_string) }.into_document();
        assert_eq!(doc(None, "a.md").unwrap().format, Format::Markdown);
        assert_eq!(doc(Some("html"), "a.md").unwrap().format, Format::Html);
        assert_eq!(doc(None, "a").unwrap().format, Format::Text);
        assert_eq!(doc(Some("pdf"), "a").unwrap_err(), MessageError::UnknownFormat("pdf".into()));
    }
}
