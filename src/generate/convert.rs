//! Re-quantisation of a GGUF model at set-up time. candle has SIMD dot products for Q8_0 and
//! Q4_0 but only a scalar one for Q4_1, the format SmolLM2-135M-Instruct is published in; we
//! measured decode at ~12 tok/s per CPU-second in wasm as shipped and ~42 after re-encoding.
//! Q8_0 is the default target: it holds every Q4_1 value almost exactly (256 levels per block
//! of 32 instead of 16), so answers stay those of the published model.

use super::GenerateError;
use candle_core::quantized::ggml_file::qtensor_from_ggml;
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
            let compute = |e: candle_core::Error| GenerateError::Compute(e.to_string());
            t = if to == GgmlDType::Q4_0 {
                let values = f.flatten_all().and_then(|v| v.to_vec1::<f32>()).map_err(compute)?;
                qtensor_from_ggml(GgmlDType::Q4_0, &encode_q4_0(&values), f.dims().to_vec(), &Device::Cpu).map_err(compute)?
            } else {
                QTensor::quantize(&f, to).map_err(compute)?
            };
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

/// Values per Q4_0 block.
const Q4_0_VALUES: usize = 32;

/// The Q4_0 code of `x` under scale `d`: `round(x / d) + 8`, clamped to 0..=15.
fn q4_code(x: f32, inverse: f32) -> u8 {
    ((x * inverse).round() + 8.0).clamp(0.0, 15.0) as u8
}

/// Squared error of one block coded with scale `d`.
fn q4_error(block: &[f32], d: f32) -> f32 {
    let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
    block.iter().map(|&x| (x - d * (f32::from(q4_code(x, inverse)) - 8.0)).powi(2)).sum()
}

/// One Q4_0 block (f16 scale, then element `j` in the low nibble of byte `j` and `j + 16` in
/// its high nibble) chosen to minimise the squared error: candle's encoder maps the value of
/// largest magnitude to -8, which wastes a level on one side of every block; we try scales
/// around it on both signs and keep the best after a least-squares refit of the scale. On the
/// SmolLM2 weights this matters (BENCHMARKS.md, "Generator encodings").
fn encode_q4_0_block(block: &[f32], out: &mut Vec<u8>) {
    let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
    let mut best = (f32::INFINITY, 0f32);
    if amax > 0.0 {
        for step in 0..=24 {
            let levels = 6.0 + step as f32 * 0.125;
            for d in [amax / levels, -amax / levels] {
                // Refit: the scale that best fits the codes this one gives.
                let inverse = 1.0 / d;
                let (mut xq, mut qq) = (0f32, 0f32);
                for &x in block {
                    let q = f32::from(q4_code(x, inverse)) - 8.0;
                    xq += x * q;
                    qq += q * q;
                }
                for candidate in [d, if qq > 0.0 { xq / qq } else { d }] {
                    let d16 = half::f16::from_f32(candidate).to_f32();
                    let error = q4_error(block, d16);
                    if error < best.0 {
                        best = (error, d16);
                    }
                }
            }
        }
    }
    let d = best.1;
    let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
    out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
    let (low, high) = block.split_at(Q4_0_VALUES / 2);
    out.extend(low.iter().zip(high).map(|(&a, &b)| q4_code(a, inverse) | (q4_code(b, inverse) << 4)));
}

/// Raw Q4_0 bytes of `values` (a whole number of blocks). The search per block is costly (a
/// 28M-value embedding table took 50 s on one core), so natively the blocks are split in runs,
/// one per core; the bytes are the same either way.
fn encode_q4_0(values: &[f32]) -> Vec<u8> {
    let encode = |run: &[f32]| {
        let mut out = Vec::with_capacity(run.len() / Q4_0_VALUES * 18);
        for block in run.chunks_exact(Q4_0_VALUES) {
            encode_q4_0_block(block, &mut out);
        }
        out
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let blocks = values.len() / Q4_0_VALUES;
        if threads > 1 && blocks >= 1024 {
            let run = blocks.div_ceil(threads) * Q4_0_VALUES;
            return std::thread::scope(|scope| {
                let handles: Vec<_> = values.chunks(run).map(|r| scope.spawn(move || encode(r))).collect();
                handles.into_iter().flat_map(|h| h.join().expect("a Q4_0 encoding thread panicked")).collect()
            });
        }
    }
    encode(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<f32> {
        let d = half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
        let q = &bytes[2..18];
        q.iter().map(|b| d * (f32::from(b & 15) - 8.0)).chain(q.iter().map(|b| d * (f32::from(b >> 4) - 8.0))).collect()
    }

    #[test]
    fn q4_0_blocks_round_trip_and_beat_the_max_rule() {
        // Values already on a symmetric 4-bit grid come back exactly.
        let grid: Vec<f32> = (0..32).map(|i| 0.5 * ((i % 16) as f32 - 8.0)).collect();
        let mut out = Vec::new();
        encode_q4_0_block(&grid, &mut out);
        assert_eq!(out.len(), 18);
        assert_eq!(decode(&out), grid);
        // An asymmetric block (a Q4_1-like range): less error than the largest value at -8.
        let skewed: Vec<f32> = (0..32).map(|i| 0.1 + 0.03 * i as f32 + if i == 31 { 0.4 } else { 0.0 }).collect();
        let mut ours = Vec::new();
        encode_q4_0_block(&skewed, &mut ours);
        let max_rule = half::f16::from_f32(-skewed[31] / 8.0).to_f32();
        let error = |d: &[f32]| d.iter().zip(&skewed).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
        assert!(error(&decode(&ours)) < q4_error(&skewed, max_rule), "{} vs {}", error(&decode(&ours)), q4_error(&skewed, max_rule));
        // Split across threads, the bytes are those of one block after another.
        let many: Vec<f32> = (0..32 * 3000).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let one_by_one: Vec<u8> = many
            .chunks_exact(32)
            .flat_map(|b| {
                let mut out = Vec::new();
                encode_q4_0_block(b, &mut out);
                out
            })
            .collect();
        assert_eq!(encode_q4_0(&many), one_by_one);
        // An all-zero block codes as zero.
        let mut zero = Vec::new();
        encode_q4_0_block(&[0.0; 32], &mut zero);
        assert!(decode(&zero).iter().all(|&v| v == 0.0));
    }
}
