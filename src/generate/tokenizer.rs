//! The generator's tokenizer, built from the GGUF file's own `tokenizer.ggml.*` metadata
//! (byte-level BPE vocabulary and merges), so a model is one file with nothing else to fetch.

use super::GenerateError;
use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

/// GGUF token types that are control or user-defined tokens, which must never be split.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// Builds a byte-level BPE tokenizer from GGUF metadata. Pre-tokenizers that split digits
/// one by one (`tokenizer.ggml.pre` = `smollm`, like SmolLM2's own tokenizer.json) get a digit
/// splitter in front of the byte-level regex.
pub fn from_gguf(content: &Content) -> Result<Tokenizer, GenerateError> {
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
    let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges = merges
        .iter()
        .map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| bad("merge without a space")))
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| bad(&e.to_string()))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    let pre = md.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok());
    let pre_tokenizer: PreTokenizerWrapper =
        if pre.map(String::as_str) == Some("smollm") { Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into() } else { byte_level.into() };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    if let Some(Value::Array(types)) = md.get("tokenizer.ggml.token_type") {
        let special: Vec<AddedToken> = types
            .iter()
            .zip(&tokens)
            .filter(|(t, _)| matches!(t.to_i32(), Ok(CONTROL | USER_DEFINED)))
            .map(|(_, tok)| AddedToken::from(tok.clone(), true))
            .collect();
        tokenizer.add_special_tokens(special).map_err(|e| bad(&e.to_string()))?;
    }
    Ok(tokenizer)
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => items.iter().map(|i| i.to_string().ok().cloned()).collect(),
        _ => None,
    }
}
