// Per-kernel sizes, fixed when the bind group is built at load.
struct Dims {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
    eps: f32,
    pad0: f32,
    pad1: f32,
    pad2: f32,
}

// Per-chunk values, written before each submit: `count` tokens at positions pos, pos + 1, ….
struct Step {
    pos: u32,
    count: u32,
    n_penalty: u32,
    penalty: f32,
}

// Zero, known only at run time: a kernel that needs `fence` sets it from its launch size first.
var<private> zero: u32;

// x unchanged, but opaque to the shader compiler. Some compile with fast-math (llvmpipe does)
// and would otherwise reorder, fuse or cancel float steps that must round as the CPU's do.
fn fence(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ zero);
}
