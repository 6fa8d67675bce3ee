//! The generator's tokenizer, built from the GGUF file's own `tokenizer.ggml.*` metadata
//! (byte-level BPE vocabulary and merges), so a model is one file with nothing else to fetch.

use super::GenerateError;
use crate::tokenize::ByteLevelBpe;
use candle_core::quantized::gguf_file::{Content, Value};

/// GGUF token types that are control or user-defined tokens, which must never be split.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// Builds a byte-level BPE tokenizer from GGUF metadata. Pre-tokenizers that split digits
/// one by one (`tokenizer.ggml.pre` = `smollm`, like SmolLM2's own tokenizer.json) get a digit
/// splitter in front of the byte-level split. Control and user-defined tokens are special:
/// matched whole in the text, and dropped when decoding.
pub fn from_gguf(content: &Content) -> Result<ByteLevelBpe, GenerateError> {
    let md = &content.metadata;
    let bad = |m: &str| GenerateError::Tokenizer(m.to_string());
    let model = md.get("tokenizer.ggml.model").and_then(|v| v.to_string().ok());
    if model.map(String::as_str) != Some("gpt2") {
        return Err(GenerateError::Unsupported(format!(
            "tokenizer model {:?}; wasmrag reads byte-level BPE (\"gpt2\") tokenizers",
            model.map(String::as_str).unwrap_or("missing")
        )));
    }
    let tokens = strings(md.get("tokenizer.ggml.tokens")).ok_or_else(|| bad("missing tokenizer.ggml.tokens"))?;
    let merges = strings(md.get("tokenizer.ggml.merges")).ok_or_else(|| bad("missing tokenizer.ggml.merges"))?;
    let merges = merges.iter().map(|m| m.split_once(' ').ok_or_else(|| bad("merge without a space"))).collect::<Result<Vec<_>, _>>()?;
    let pre = md.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok());
    let split_digits = pre.map(String::as_str) == Some("smollm");
    let mut special = Vec::new();
    if let Some(Value::Array(types)) = md.get("tokenizer.ggml.token_type") {
        special.extend(types.iter().zip(&tokens).filter(|(t, _)| matches!(t.to_i32(), Ok(CONTROL | USER_DEFINED))).map(|(_, tok)| tok.as_str()));
    }
    ByteLevelBpe::new(&tokens, &merges, &special, split_digits).map_err(|e| GenerateError::Tokenizer(e.to_string()))
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => items.iter().map(|i| i.to_string().ok().cloned()).collect(),
        _ => None,
    }
}
