//! Re-quantisation of a GGUF model at set-up time. candle has SIMD dot products for Q8_0 and
//! Q4_0 but only a scalar one for Q4_1, the format SmolLM2-135M-Instruct is published in; we
//! measured decode at ~12 tok/s per CPU-second in wasm as shipped and ~42 after re-encoding.
//! Q8_0 is the default target: it holds every Q4_1 value almost exactly (256 levels per block
//! of 32 instead of 16), so answers stay those of the published model.

use super::GenerateError;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use std::io::Cursor;

/// GGUF `general.file_type` codes for the targets we write.
fn file_type(dtype: GgmlDType) -> Option<u32> {
    match dtype {
        GgmlDType::Q4_0 => Some(2),
        GgmlDType::Q8_0 => Some(7),
        _ => None,
    }
}

/// Re-encodes every tensor stored as `from` into `to`, keeping all metadata (the tokenizer
/// included) and recording the conversion under `wasmrag.requantized_from`.
pub fn requantize(gguf: &[u8], from: GgmlDType, to: GgmlDType) -> Result<Vec<u8>, GenerateError> {
    let content = super::read_content(gguf)?;
    let mut reader = Cursor::new(gguf);
    let corrupt = |e: candle_core::Error| GenerateError::Corrupt(e.to_string());
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|n| content.tensor_infos[*n].offset);
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let mut t = content.tensor(&mut reader, name, &Device::Cpu).map_err(corrupt)?;
        if t.dtype() == from {
            let f = t.dequantize(&Device::Cpu).map_err(corrupt)?;
            t = QTensor::quantize(&f, to).map_err(|e| GenerateError::Compute(e.to_string()))?;
        }
        tensors.push((name.clone(), t));
    }
    let mut metadata: Vec<(String, Value)> = content.metadata.into_iter().collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(code) = file_type(to) {
        metadata.retain(|(k, _)| k != "general.file_type");
        metadata.push(("general.file_type".into(), Value::U32(code)));
    }
    metadata.push(("wasmrag.requantized_from".into(), Value::String(format!("{from:?}"))));
    let md_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut out = Cursor::new(Vec::with_capacity(gguf.len() * 3 / 2));
    gguf_file::write(&mut out, &md_refs, &t_refs).map_err(|e| GenerateError::Compute(e.to_string()))?;
    Ok(out.into_inner())
}
