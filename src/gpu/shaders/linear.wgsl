// Y[r, n] = Σ_k X[r, k] · W[n, k] + bias[n], then GELU (erf form) when dims.c = 1: a dense
// layer over the batch's token rows, in 16×16 tiles through workgroup memory.
// dims.a = outputs N, dims.b = inputs K (a multiple of 16).
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> batch: Batch;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> x_tile: array<array<f32, 16>, 16>;
var<workgroup> w_tile: array<array<f32, 16>, 16>;

// erf with absolute error below 1.5e-7 (Abramowitz and Stegun 7.1.26); WGSL has no erf.
fn erf(v: f32) -> f32 {
    let a = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(v) * (1.0 - poly * exp(-a * a));
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let n = wg.x * 16u + l.x;
    let r = wg.y * 16u + l.y;
    let k_len = dims.b;
    var acc = 0.0;
    for (var k0 = 0u; k0 < k_len; k0 += 16u) {
        let xr = wg.y * 16u + l.y;
        x_tile[l.y][l.x] = select(0.0, x[xr * k_len + k0 + l.x], xr < batch.rows);
        let wn = wg.x * 16u + l.y;
        w_tile[l.y][l.x] = select(0.0, w[wn * k_len + k0 + l.x], wn < dims.a);
        workgroupBarrier();
        for (var k = 0u; k < 16u; k++) {
            acc += x_tile[l.y][k] * w_tile[l.x][k];
        }
        workgroupBarrier();
    }
    if (r < batch.rows && n < dims.a) {
        var v = acc + bias[n];
        if (dims.c == 1u) {
            v = 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
        }
        y[r * dims.a + n] = v;
    }
}
