//! BERT-family sentence encoders with int8 weights: Q8_0 blocks (32 weights and one f16 scale)
//! in a GGUF file, a quarter of the f32 safetensors. [`quantize`] derives the file from the f32
//! model; [`super::bert::Bert::from_gguf`] runs it, through the same graph as the f32 weights, so
//! the two agree up to the quantization error.

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Result};
use std::io::Cursor;

/// The GGUF `general.architecture` of an int8 encoder written by [`quantize`].
pub const ARCHITECTURE: &str = "bert";

/// Whether the f32 tensor `name` is stored as Q8_0: every matrix whose rows are whole blocks
/// (the linear layers and the token and position tables); vectors stay f32.
fn quantizes(name: &str, shape: &[usize]) -> bool {
    shape.len() == 2 && shape[1].is_multiple_of(32) && !name.contains("token_type_embeddings")
}

/// Derives the int8 GGUF from an f32 BERT in safetensors (names with or without a `bert.`
/// prefix); pooler and head tensors, which sentence embedding does not use, are left out.
pub fn quantize(safetensors: &[u8]) -> Result<Vec<u8>> {
    let tensors = candle_core::safetensors::load_buffer(safetensors, &Device::Cpu)?;
    let mut named: Vec<(String, QTensor)> = Vec::new();
    for (name, tensor) in tensors {
        let name = name.strip_prefix("bert.").unwrap_or(&name).to_string();
        if !(name.starts_with("embeddings.") || name.starts_with("encoder.")) {
            continue;
        }
        let tensor = tensor.to_dtype(DType::F32)?;
        let dtype = if quantizes(&name, tensor.dims()) { GgmlDType::Q8_0 } else { GgmlDType::F32 };
        named.push((name, QTensor::quantize(&tensor, dtype)?));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let arch = gguf_file::Value::String(ARCHITECTURE.to_string());
    let kind = gguf_file::Value::String("sentence-embedding encoder, Q8_0 weights".to_string());
    let metadata = [("general.architecture", &arch), ("general.description", &kind)];
    let refs: Vec<(&str, &QTensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &refs)?;
    Ok(out.into_inner())
}
