//! Storage of instant-distance's HNSW graph. The crate keeps the graph private and exposes it
//! only through serde, as fixed 64-slot (layer 0) and 32-slot (upper layers) neighbour arrays
//! padded with `u32::MAX`. We read that layout once at save time and store only the real
//! neighbours as varints, about a third of the size; at load we check every id and hand the
//! crate the exact serde stream it expects, so a corrupt file cannot make the search index
//! out of bounds.

use super::codec::{Malformed, Reader, Writer};
use super::vector::QVec;
use instant_distance::HnswMap;

/// Neighbour slots per node on layer 0 (instant-distance's `M * 2`).
const ZERO_SLOTS: usize = 64;
/// Neighbour slots per node on upper layers (instant-distance's `M`).
const UPPER_SLOTS: usize = 32;
/// The padding value for an empty slot.
const INVALID: u32 = u32::MAX;
/// More layers than any graph of up to 2^32 points has; bounds a corrupt layer count.
const MAX_LAYERS: usize = 16;

/// The HNSW graph in plain vectors: point `p` of the graph is passage `values[p]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Candidate-list size used when searching.
    pub ef_search: usize,
    /// Passage index of each graph point.
    pub values: Vec<u32>,
    /// Layer-0 neighbours of every point.
    pub zero: Vec<Vec<u32>>,
    /// Upper layers, lowest first; layer `l` holds points `0..layers[l].len()`.
    pub layers: Vec<Vec<Vec<u32>>>,
}

/// Reads instant-distance's little-endian fixed-width serde stream.
struct Fixed<'a>(Reader<'a>);

impl Fixed<'_> {
    fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.0.raw(8, "hnsw stream")?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| Malformed { what: "hnsw stream" })?))
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.0.raw(4, "hnsw stream")?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn slots(&mut self, n: usize) -> Result<Vec<u32>, Malformed> {
        let mut out = Vec::new();
        for _ in 0..n {
            let id = self.u32()?;
            if id != INVALID {
                out.push(id);
            }
        }
        Ok(out)
    }
}

impl Graph {
    /// Extracts the graph from a built map.
    pub fn from_hnsw(map: &HnswMap<QVec, u32>) -> Result<Graph, Malformed> {
        let stream = bincode::serialize(map).map_err(|_| Malformed { what: "hnsw stream" })?;
        let mut r = Fixed(Reader::new(&stream));
        let ef_search = r.u64()? as usize;
        let n = r.u64()? as usize;
        for _ in 0..n {
            r.0.raw(4, "hnsw point")?;
            let dim = r.u64()? as usize;
            r.0.raw(dim, "hnsw point")?;
        }
        let zero_len = r.u64()? as usize;
        let zero = (0..zero_len).map(|_| r.slots(ZERO_SLOTS)).collect::<Result<_, _>>()?;
        let n_layers = r.u64()? as usize;
        let mut layers = Vec::with_capacity(n_layers.min(MAX_LAYERS));
        for _ in 0..n_layers {
            let len = r.u64()? as usize;
            layers.push((0..len).map(|_| r.slots(UPPER_SLOTS)).collect::<Result<_, _>>()?);
        }
        let n_values = r.u64()? as usize;
        let values = (0..n_values).map(|_| r.u32()).collect::<Result<_, _>>()?;
        Ok(Graph { ef_search, values, zero, layers })
    }

    /// Rebuilds the searchable map; `vectors` are indexed by passage.
    pub fn to_hnsw(&self, vectors: &[QVec]) -> Result<HnswMap<QVec, u32>, Malformed> {
        let mut s = Vec::new();
        let put_u64 = |s: &mut Vec<u8>, v: usize| s.extend_from_slice(&(v as u64).to_le_bytes());
        put_u64(&mut s, self.ef_search);
        put_u64(&mut s, self.values.len());
        for &v in &self.values {
            let q = vectors.get(v as usize).ok_or(Malformed { what: "hnsw value" })?;
            s.extend_from_slice(&q.scale.to_le_bytes());
            put_u64(&mut s, q.values.len());
            s.extend(q.values.iter().map(|&x| x as u8));
        }
        let put_slots = |s: &mut Vec<u8>, ids: &[u32], slots: usize| {
            for i in 0..slots {
                s.extend_from_slice(&ids.get(i).copied().unwrap_or(INVALID).to_le_bytes());
            }
        };
        put_u64(&mut s, self.zero.len());
        for node in &self.zero {
            put_slots(&mut s, node, ZERO_SLOTS);
        }
        put_u64(&mut s, self.layers.len());
        for layer in &self.layers {
            put_u64(&mut s, layer.len());
            for node in layer {
                put_slots(&mut s, node, UPPER_SLOTS);
            }
        }
        put_u64(&mut s, self.values.len());
        for &v in &self.values {
            s.extend_from_slice(&v.to_le_bytes());
        }
        bincode::deserialize(&s).map_err(|_| Malformed { what: "hnsw stream" })
    }

    /// Appends the graph in the index file's varint form.
    pub fn write(&self, w: &mut Writer) {
        w.varint(self.ef_search as u64);
        for &v in &self.values {
            w.varint(v as u64);
        }
        let write_node = |w: &mut Writer, node: &[u32]| {
            w.varint(node.len() as u64);
            for &id in node {
                w.varint(id as u64);
            }
        };
        for node in &self.zero {
            write_node(w, node);
        }
        w.varint(self.layers.len() as u64);
        for layer in &self.layers {
            w.varint(layer.len() as u64);
            for node in layer {
                write_node(w, node);
            }
        }
    }

    /// Reads a graph over `n` points, checking every id, the layer sizes, and that the values
    /// are a permutation of the passages.
    pub fn read(r: &mut Reader, n: usize) -> Result<Graph, Malformed> {
        let ef_search = r.varint("hnsw ef_search")? as usize;
        if ef_search == 0 || ef_search > 1 << 16 {
            return Err(Malformed { what: "hnsw ef_search" });
        }
        let mut seen = vec![false; n];
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let v = r.index(n, "hnsw value")?;
            if std::mem::replace(&mut seen[v], true) {
                return Err(Malformed { what: "hnsw value" });
            }
            values.push(v as u32);
        }
        let read_node = |r: &mut Reader, slots: usize, limit: usize| -> Result<Vec<u32>, Malformed> {
            let count = r.varint("hnsw neighbours")? as usize;
            if count > slots {
                return Err(Malformed { what: "hnsw neighbours" });
            }
            (0..count).map(|_| r.index(limit, "hnsw neighbour").map(|i| i as u32)).collect()
        };
        let zero = (0..n).map(|_| read_node(r, ZERO_SLOTS, n)).collect::<Result<_, _>>()?;
        let n_layers = r.varint("hnsw layers")? as usize;
        if n_layers > MAX_LAYERS {
            return Err(Malformed { what: "hnsw layers" });
        }
        let mut layers: Vec<Vec<Vec<u32>>> = Vec::with_capacity(n_layers);
        let mut limit = n;
        for _ in 0..n_layers {
            let len = r.varint("hnsw layer size")? as usize;
            if len == 0 || len > limit {
                return Err(Malformed { what: "hnsw layer size" });
            }
            layers.push((0..len).map(|_| read_node(r, UPPER_SLOTS, len)).collect::<Result<_, _>>()?);
            limit = len;
        }
        Ok(Graph { ef_search, values, zero, layers })
    }
}
