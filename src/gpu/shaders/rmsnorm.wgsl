// y = x / sqrt(mean(x²) + eps) * w over dims.a elements; one workgroup. The sum of squares is
// taken in order by one thread, as candle does, so rounding matches the CPU path.
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> total: f32;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
    if (t == 0u) {
        var sum = 0.0;
        for (var i = 0u; i < dims.a; i++) {
            sum += x[i] * x[i];
        }
        total = sum;
    }
    workgroupBarrier();
    let m = sqrt(total / f32(dims.a) + dims.eps);
    for (var i = t; i < dims.a; i += 256u) {
        y[i] = x[i] / m * w[i];
    }
}
