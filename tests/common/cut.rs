//! Cutting a llama GGUF to its first transformer blocks, for the GPU parity tests natively
//! (tests/gpu.rs) and in the browser (tests/wasm/gpu.rs): every kernel still runs, at a
//! fraction of the work.

use candle_core::quantized::{gguf_file, QTensor};

/// `gguf` with only its first `layers` blocks (embedding, norms and output head kept, tensors
/// unchanged) and `llama.block_count` set to match.
pub fn cut_gguf(gguf: &[u8], layers: usize) -> Vec<u8> {
    let mut reader = std::io::Cursor::new(gguf);
    let content = gguf_file::Content::read(&mut reader).expect("read GGUF");
    let block = |name: &str| name.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|n| n.parse::<usize>().ok());
    let mut names: Vec<&String> = content.tensor_infos.keys().filter(|n| block(n).is_none_or(|b| b < layers)).collect();
    names.sort();
    let tensors: Vec<(&str, QTensor)> =
        names.iter().map(|n| (n.as_str(), content.tensor(&mut reader, n, &candle_core::Device::Cpu).expect("tensor"))).collect();
    let mut metadata: Vec<(&String, &gguf_file::Value)> = content.metadata.iter().collect();
    metadata.sort_by_key(|(k, _)| k.as_str());
    let count = gguf_file::Value::U32(layers as u32);
    let metadata: Vec<(&str, &gguf_file::Value)> = metadata.into_iter().map(|(k, v)| (k.as_str(), if k == "llama.block_count" { &count } else { v })).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &tensors).expect("write GGUF");
    out.into_inner()
}
