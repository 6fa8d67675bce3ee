// y = x / sqrt(mean(x²) + eps) * w over dims.a elements, one workgroup per token row (y of the
// workgroup id); with dims.b = 1 only the chunk's last row, written as row 0 (for the output
// head). The sum of squares is taken in order by one thread, as candle does (fenced, so a
// fast-math shader compiler cannot vectorise it into another order).
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> total: f32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    zero = u32(groups.x == 0u);
    let src = select(wg.y, step.count - 1u, dims.b == 1u) * dims.a;
    let dst = select(wg.y, 0u, dims.b == 1u) * dims.a;
    if (t == 0u) {
        var sum = 0.0;
        for (var i = 0u; i < dims.a; i++) {
            sum = fence(sum + fence(x[src + i] * x[src + i]));
        }
        total = sum;
    }
    workgroupBarrier();
    let m = square_root(fence(divide(total, f32(dims.a)) + dims.eps));
    for (var i = t; i < dims.a; i += 256u) {
        y[dst + i] = divide(x[src + i], m) * w[i];
    }
}
