//! Byte-level reading and writing for the index files: the frame every file shares (magic,
//! version, body length, body, CRC-32), LEB128 varints, length-prefixed strings, and a reader
//! that returns an error, never panics, when the bytes run out or lie.

use super::IndexError;

/// Bytes before the body: magic (8), version (u32 LE), body length (u64 LE).
pub const HEADER_LEN: usize = 8 + 4 + 8;
/// Bytes after the body: the CRC-32 of everything before it (u32 LE).
pub const FOOTER_LEN: usize = 4;

/// Frames `body` as a file: `magic` · `version` · body length · body · CRC-32.
pub fn frame(magic: &[u8; 8], version: u32, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len() + FOOTER_LEN);
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(body);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// The body of a file written by [`frame`], after checking magic, version, length and
/// checksum, in that order (so each kind of damage gets its own error).
pub fn unframe<'a>(bytes: &'a [u8], magic: &[u8; 8], version: u32) -> Result<&'a [u8], IndexError> {
    if bytes.len() < magic.len() || &bytes[..magic.len()] != magic {
        return Err(IndexError::NotAnIndex);
    }
    if bytes.len() < HEADER_LEN {
        return Err(IndexError::Truncated { expected: HEADER_LEN as u64, actual: bytes.len() as u64 });
    }
    let found = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if found != version {
        return Err(IndexError::Incompatible { found, supported: version });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[12..20]);
    let expected = u64::from_le_bytes(len).saturating_add((HEADER_LEN + FOOTER_LEN) as u64);
    if expected != bytes.len() as u64 {
        return Err(IndexError::Truncated { expected, actual: bytes.len() as u64 });
    }
    let (content, footer) = bytes.split_at(bytes.len() - FOOTER_LEN);
    let stored = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]);
    if crc32fast::hash(content) != stored {
        return Err(IndexError::Checksum);
    }
    Ok(&content[HEADER_LEN..])
}

/// The reader ran past the end or met a malformed value; `what` names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The field being read.
    pub what: &'static str,
}

/// Appends values to a growing byte buffer.
#[derive(Default)]
pub struct Writer {
    /// The bytes written so far.
    pub bytes: Vec<u8>,
}

impl Writer {
    /// Writes an unsigned LEB128 varint.
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
    }

    /// Writes a length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// Writes an optional string as a presence byte then the string.
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.bytes.push(1);
                self.str(s);
            }
            None => self.bytes.push(0),
        }
    }

    /// Writes a little-endian f32.
    pub fn f32(&mut self, v: f32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes raw bytes.
    pub fn raw(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
    }
}

/// Reads values from a byte slice, checking every length against what is left.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Whether every byte has been consumed.
    pub fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Reads `n` raw bytes.
    pub fn raw(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(Malformed { what })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        Ok(self.raw(1, what)?[0])
    }

    /// Reads an unsigned LEB128 varint of at most 64 bits.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Malformed { what })
    }

    /// Reads a varint that counts items each taking at least `min_item_bytes` bytes, refusing
    /// counts the remaining bytes cannot hold (so a corrupt count cannot trigger a huge
    /// allocation).
    pub fn count(&mut self, min_item_bytes: usize, what: &'static str) -> Result<usize, Malformed> {
        let n = self.varint(what)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes.max(1) as u64) > left {
            return Err(Malformed { what });
        }
        Ok(n as usize)
    }

    /// Reads a varint that must be below `limit` (an index into a table).
    pub fn index(&mut self, limit: usize, what: &'static str) -> Result<usize, Malformed> {
        let v = self.varint(what)?;
        if v >= limit as u64 {
            return Err(Malformed { what });
        }
        Ok(v as usize)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self, what: &'static str) -> Result<String, Malformed> {
        let n = self.count(1, what)?;
        let b = self.raw(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| Malformed { what })
    }

    /// Reads an optional string written by [`Writer::opt_str`].
    pub fn opt_str(&mut self, what: &'static str) -> Result<Option<String>, Malformed> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.str(what)?)),
            _ => Err(Malformed { what }),
        }
    }

    /// Reads a little-endian f32.
    pub fn f32(&mut self, what: &'static str) -> Result<f32, Malformed> {
        let b = self.raw(4, what)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_overruns() {
        let mut w = Writer::default();
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            w.varint(v);
        }
        w.str("héllo");
        w.opt_str(None);
        w.opt_str(Some("x"));
        w.f32(1.5);
        let mut r = Reader::new(&w.bytes);
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            assert_eq!(r.varint("v"), Ok(v));
        }
        assert_eq!(r.str("s").as_deref(), Ok("héllo"));
        assert_eq!(r.opt_str("o"), Ok(None));
        assert_eq!(r.opt_str("o"), Ok(Some("x".into())));
        assert_eq!(r.f32("f"), Ok(1.5));
        assert!(r.is_done());
        assert_eq!(r.u8("end"), Err(Malformed { what: "end" }));

        let mut w = Writer::default();
        w.varint(1 << 40);
        assert_eq!(Reader::new(&w.bytes).str("big"), Err(Malformed { what: "big" }));
        assert_eq!(Reader::new(&[0xff; 11]).varint("long"), Err(Malformed { what: "long" }));
        assert_eq!(Reader::new(&[5]).index(5, "idx"), Err(Malformed { what: "idx" }));
    }
}
