// exp(x) as the CPU path computes it natively: glibc's expf, which rounds correctly in all but
// vanishingly rare cases, so this computes exp to within about 2^-37 relative and rounds once.
// x = k·ln2/32 + r with ln2/32 in three parts, then exp(x) = 2^(k/32) · (1 + r + r²/2 + r³/6 +
// r⁴/24), 2^(j/32) from a two-part table, the sum carried as a float pair until its last
// addition. Only fenced f32 steps, no optional features.
const EXP_TABLE_HI = array<f32, 32>(
    1.000000e+00, 1.0218972e+00, 1.0442737e+00, 1.0671405e+00, 1.0905077e+00, 1.1143868e+00,
    1.1387886e+00, 1.1637249e+00, 1.1892071e+00, 1.2152474e+00, 1.2418578e+00, 1.269051e+00,
    1.2968396e+00, 1.3252367e+00, 1.3542556e+00, 1.383910e+00, 1.4142135e+00, 1.4451808e+00,
    1.4768262e+00, 1.5091645e+00, 1.5422108e+00, 1.5759809e+00, 1.6104903e+00, 1.6457555e+00,
    1.6817929e+00, 1.7186193e+00, 1.7562522e+00, 1.7947091e+00, 1.8340081e+00, 1.8741677e+00,
    1.9152066e+00, 1.9571441e+00
);
const EXP_TABLE_LO = array<f32, 32>(
    0.000000e+00, -4.811560e-08, 4.833470e-08, -5.933752e-08, -1.307754e-08, -5.435540e-08,
    5.3862223e-08, -4.0514415e-08, 3.7976353e-08, -3.267395e-08, 4.496838e-08, 1.4193333e-09,
    -4.0189995e-08, -3.4963733e-08, -1.0123349e-08, -5.8755774e-08, 2.4203235e-08, 3.324200e-08,
    -4.500899e-08, -2.4959373e-08, 8.070905e-09, -5.6610254e-08, 9.836217e-09, -5.124972e-08,
    -2.4755327e-08, -4.8496176e-08, -9.235770e-09, -1.1415045e-08, -1.1239278e-08, -4.6630056e-08,
    9.845328e-09, -1.7021804e-08
);

fn exp_cpu(x: f32) -> f32 {
    if (x < -104.0) {
        return 0.0;
    }
    if (x > 88.8) {
        // Infinity, built at run time: WGSL rejects a constant one.
        return bitcast<f32>(0x7f800000u | zero);
    }
    let k = round(fence(x * 46.16624));
    // k·C1 has at most 24 significant bits and lies within a factor 2 of x: both steps exact.
    let hi = fence(x - fence(k * 2.166748e-02));
    let lo = two_product(k, -6.6310763e-06);
    let r = two_sum(hi, -lo.x);
    let r_tail = fence(fence(r.y - lo.y) - fence(k * 5.1455368e-14));
    let poly = fence(0.5 + fence(r.x * fence(0.16666667 + fence(r.x * 0.041666668))));
    let s_tail = fence(fence(fence(r.x * r.x) * poly) + r_tail);
    let ki = i32(k);
    let j = u32(ki & 31);
    let e = (ki - i32(j)) / 32;
    let th = EXP_TABLE_HI[j];
    let tl = EXP_TABLE_LO[j];
    let p = two_product(th, r.x);
    let h = two_sum(th, p.x);
    let tail = fence(fence(fence(h.y + p.y) + fence(th * s_tail)) + fence(tl + fence(tl * r.x)));
    let m = fence(h.x + tail);
    // m × 2^e in two exact power-of-two steps, so tiny results reach the subnormal range.
    let e1 = clamp(e, -126, 127);
    let scaled = fence(m * bitcast<f32>(u32(e1 + 127) << 23u));
    return fence(scaled * bitcast<f32>(u32(e - e1 + 127) << 23u));
}
