//! GGUF files read without trusting them: candle's reader behind the checks it lacks, shared by
//! the generator and the int8 embedder. A damaged or hostile file gives an error message, never
//! a panic (a trap in wasm) or an allocation the file's bytes cannot back.

use candle_core::quantized::gguf_file::Content;
use std::io::{Cursor, Read, Seek, SeekFrom};

/// Bytes first read for a header by [`read_through`]; SmolLM2's, with its tokenizer, is 1.8 MB.
const HEADER_GUESS: usize = 4 << 20;

/// Values in a Q8_0 block; each block is stored as an f16 scale and then its values as bytes.
pub const Q8_0_BLOCK: usize = 32;

/// The blocks of a Q8_0 matrix of `outputs` rows of `inputs` values from its bytes, in order:
/// each block's scale as f32 and its 32 values (signed bytes, read as `u8`). The int8 embedder
/// and the generator's kernel both read their weights through it, each into its own layout. An
/// error unless the rows are whole blocks and `data` is exactly their bytes.
pub fn q8_0_blocks(data: &[u8], outputs: usize, inputs: usize) -> Result<impl Iterator<Item = (f32, &[u8])>, String> {
    let bytes = 2 + Q8_0_BLOCK;
    if !inputs.is_multiple_of(Q8_0_BLOCK) || Some(data.len()) != (outputs * inputs / Q8_0_BLOCK).checked_mul(bytes) {
        return Err(format!("{} bytes of Q8_0 for {outputs}×{inputs} values", data.len()));
    }
    Ok(data.chunks_exact(bytes).map(|block| (half::f16::from_le_bytes([block[0], block[1]]).to_f32(), &block[2..])))
}

/// Whether `bytes` start with the GGUF magic.
pub fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"GGUF")
}

/// Parses the header and tensor table, refusing what would make candle's reader panic.
pub fn read(bytes: &[u8]) -> Result<Content, String> {
    if zero_alignment(bytes) {
        return Err("general.alignment is 0".into());
    }
    Content::read(&mut Cursor::new(bytes)).map_err(|e| e.to_string())
}

/// Like [`read`], for a `len`-byte file read through `reader`, so a model loads tensor by
/// tensor without its whole file in memory. The header's length is known only once it is
/// parsed: a prefix is tried and doubled until the header fits (a damaged file ends up read
/// whole and reported as [`read`] reports it).
pub fn read_through<R: Read + Seek>(reader: &mut R, len: usize) -> Result<Content, String> {
    let mut n = len.min(HEADER_GUESS);
    loop {
        let mut prefix = vec![0; n];
        reader.seek(SeekFrom::Start(0)).and_then(|_| reader.read_exact(&mut prefix)).map_err(|e| e.to_string())?;
        match read(&prefix) {
            Ok(content) => return Ok(content),
            Err(_) if n < len => n = len.min(n * 2),
            Err(e) => return Err(e),
        }
    }
}

/// Whether the `len`-byte file behind `reader` starts with the GGUF magic.
pub fn is_gguf_through<R: Read + Seek>(reader: &mut R, len: usize) -> Result<bool, String> {
    let mut magic = [0; 4];
    if len < magic.len() {
        return Ok(false);
    }
    reader.seek(SeekFrom::Start(0)).and_then(|_| reader.read_exact(&mut magic)).map_err(|e| e.to_string())?;
    Ok(is_gguf(&magic))
}

/// Checks that every tensor's bytes lie inside a file of `file_len` bytes and are whole
/// quantisation blocks, before anything is allocated for them.
pub fn check_bounds(content: &Content, file_len: usize) -> Result<(), String> {
    let data_len = (file_len as u64).saturating_sub(content.tensor_data_offset);
    for (name, info) in &content.tensor_infos {
        // Products of sizes from the file, so checked (a wrapped size could pass the bound).
        let elements = info.shape.dims().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let Some(elements) = elements else {
            return Err(format!("tensor {name} has an impossible shape"));
        };
        let block = info.ggml_dtype.block_size();
        if elements % block != 0 {
            return Err(format!("tensor {name} is not whole quantisation blocks"));
        }
        let size = ((elements / block) as u64).checked_mul(info.ggml_dtype.type_size() as u64);
        if size.and_then(|size| info.offset.checked_add(size)).is_none_or(|end| end > data_len) {
            return Err(format!("tensor {name} lies past the end of the file (truncated?)"));
        }
    }
    Ok(())
}

/// Whether the file sets `general.alignment` to 0, which candle 0.11's reader divides by (a
/// panic, so a trap in wasm; found by fuzzing). Walks the metadata as GGUF lays it out; a file
/// too malformed to walk is left to candle's reader, which reports it as an error.
fn zero_alignment(bytes: &[u8]) -> bool {
    let mut r = Gguf { bytes, at: 4, v1: false };
    let mut walk = || -> Option<bool> {
        let version = r.u32()?;
        r.v1 = version == 1;
        let (_tensors, kvs) = (r.count()?, r.count()?);
        let mut zero = false;
        for _ in 0..kvs {
            let key = r.string()?;
            let kind = r.u32()?;
            let width = [1, 1, 2, 2, 4, 4].get(kind as usize).copied();
            if key == b"general.alignment" && width.is_some() {
                zero = r.take(width?)?.iter().all(|&b| b == 0);
            } else {
                r.skip_value(kind, 0)?;
            }
        }
        Some(zero)
    };
    walk().unwrap_or(false)
}

/// A cursor over GGUF metadata for [`zero_alignment`].
struct Gguf<'a> {
    bytes: &'a [u8],
    at: usize,
    v1: bool,
}

impl<'a> Gguf<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length or count: u32 in GGUF v1, u64 after.
    fn count(&mut self) -> Option<usize> {
        if self.v1 {
            return self.u32().map(|n| n as usize);
        }
        self.take(8).and_then(|b| usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok())
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.count()?;
        self.take(n)
    }

    fn skip_value(&mut self, kind: u32, depth: usize) -> Option<()> {
        match kind {
            0 | 1 | 7 => self.take(1).map(drop),
            2 | 3 => self.take(2).map(drop),
            4..=6 => self.take(4).map(drop),
            10..=12 => self.take(8).map(drop),
            8 => self.string().map(drop),
            9 if depth < 4 => {
                let (inner, n) = (self.u32()?, self.count()?);
                // Every element takes at least a byte, so a count past the end is malformed.
                if n > self.bytes.len() - self.at {
                    return None;
                }
                (0..n).try_for_each(|_| self.skip_value(inner, depth + 1))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks come out in order with their scales; rows of part of a block, or bytes that are
    /// not exactly the matrix's, are refused.
    #[test]
    fn q8_0_blocks_read_whole_blocks_only() {
        let mut data = Vec::new();
        for (scale, value) in [(0.5f32, 3u8), (-2.0, 0xfd)] {
            data.extend(half::f16::from_f32(scale).to_le_bytes());
            data.extend([value; Q8_0_BLOCK]);
        }
        let blocks: Vec<(f32, Vec<u8>)> = q8_0_blocks(&data, 1, 2 * Q8_0_BLOCK).unwrap().map(|(s, v)| (s, v.to_vec())).collect();
        assert_eq!(blocks, vec![(0.5, vec![3; Q8_0_BLOCK]), (-2.0, vec![0xfd; Q8_0_BLOCK])]);
        assert!(q8_0_blocks(&data, 2, Q8_0_BLOCK).is_ok(), "two rows of one block");
        assert!(q8_0_blocks(&data[..data.len() - 1], 1, 2 * Q8_0_BLOCK).is_err(), "a byte short");
        assert!(q8_0_blocks(&data, 1, 3 * Q8_0_BLOCK).is_err(), "too few bytes for the shape");
        assert!(q8_0_blocks(&data, 4, Q8_0_BLOCK / 2).is_err(), "rows of half a block");
    }
}
