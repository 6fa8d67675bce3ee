// The current batch's shape, written before each batch's submit.
struct Batch {
    rows: u32,
    seq: u32,
    count: u32,
    pad: u32,
}
