// exp(x) as the CPU path computes it in the browser: the expf that Rust's wasm32 standard library
// links (the libm crate's port of FreeBSD's e_expf), step for step in f32 so both round alike:
// reduce by k·ln2 (ln2 in two parts), a rational approximation on the remainder, then scale by
// 2^k the way scalbnf does. Every step is fenced from fast-math.
fn exp_cpu(input: f32) -> f32 {
    var x = input;
    let bits = bitcast<u32>(x);
    let negative = bits >= 0x80000000u;
    let hx = bits & 0x7fffffffu;
    if (hx >= 0x42aeac50u) {
        if (hx > 0x7f800000u) {
            return x;
        }
        if (hx >= 0x42b17218u && !negative) {
            // Infinity, built at run time: WGSL rejects a constant one.
            return bitcast<f32>(0x7f800000u | zero);
        }
        if (negative && hx >= 0x42cff1b5u) {
            return 0.0;
        }
    }
    var k = 0;
    var hi = x;
    var lo = 0.0;
    if (hx > 0x3eb17218u) {
        if (hx > 0x3f851592u) {
            k = i32(fence(fence(1.4426950216 * x) + select(0.5, -0.5, negative)));
        } else {
            k = select(1, -1, negative);
        }
        let kf = f32(k);
        hi = fence(x - fence(kf * 6.9314575195e-01));
        lo = fence(kf * 1.4286067653e-06);
        x = fence(hi - lo);
    } else if (hx <= 0x39000000u) {
        return fence(1.0 + x);
    }
    let xx = fence(x * x);
    let c = fence(x - fence(xx * fence(1.6666625440e-1 + fence(xx * -2.7667332906e-3))));
    let y = fence(fence(fence(divide(fence(x * c), fence(2.0 - c)) - lo) + hi) + 1.0);
    if (k == 0) {
        return y;
    }
    return scale_by_power_of_two(y, k);
}

// y · 2^n as scalbnf computes it: at most two exact power-of-two steps toward the normal range,
// then one multiplication that rounds (into the subnormals, where the result lies there).
fn scale_by_power_of_two(input: f32, power: i32) -> f32 {
    var y = input;
    var n = power;
    if (n > 127) {
        y = fence(y * 1.7014118e38);
        n -= 127;
        if (n > 127) {
            y = fence(y * 1.7014118e38);
            n = min(n - 127, 127);
        }
    } else if (n < -126) {
        y = fence(y * bitcast<f32>(0x0c800000u));
        n += 102;
        if (n < -126) {
            y = fence(y * bitcast<f32>(0x0c800000u));
            n = max(n + 102, -126);
        }
    }
    return fence(y * bitcast<f32>(u32(n + 127) << 23u));
}
