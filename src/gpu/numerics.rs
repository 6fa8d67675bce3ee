//! The CPU path's numerics that the kernels copy so the GPU computes the same floats as candle:
//! summation orders, fused multiply-adds and `exp` (the prefill chunk that fixes gemm's order
//! is [`crate::generate::PREFILL_CHUNK`]).

/// How the CPU path rounds on this target, which the kernels copy so GPU and CPU compute the same
/// floats: the orders of candle's q8_0·q8_0 dot, of gemm's f32 kernels and of candle's
/// `vec_sum`, whether multiply-adds are fused, and which libm `exp` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuOrder {
    /// Lanes of the q8_0·q8_0 dot (the matvec kernel's `LANES`): 8 for candle's AVX2 kernel, 4
    /// for its wasm simd128 kernel, 1 for its portable loop.
    pub(crate) dot_lanes: u32,
    /// Whether gemm's multiply-adds are fused (x86 with FMA) or multiply then add.
    pub(crate) fused: bool,
    /// Whether gemm uses its horizontal kernel for products of at most 256 values (x86 with FMA).
    pub(crate) horizontal: bool,
    /// Lanes of gemm's matrix-vector kernel: 8 with AVX2, 1 on wasm (its scalar path).
    pub(crate) gemv_width: u32,
    /// Running sums in candle's `vec_sum`: 32 with AVX, 16 with simd128.
    pub(crate) sum_step: u32,
    /// Whether `exp` is the libm crate's (wasm32), rather than a correctly rounding one (glibc).
    pub(crate) libm_exp: bool,
}

/// The CPU path's rounding on this target: exact for the browser (wasm simd128) and for x86-64
/// with AVX2 and FMA (the native tests); elsewhere the nearest of these, so answers agree closely
/// but not bit for bit.
pub(crate) fn cpu_order() -> CpuOrder {
    let wasm = CpuOrder { dot_lanes: 4, fused: false, horizontal: false, gemv_width: 1, sum_step: 16, libm_exp: true };
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm;
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        return CpuOrder { dot_lanes: 8, fused: true, horizontal: true, gemv_width: 8, sum_step: 32, libm_exp: false };
    }
    #[allow(unreachable_code)]
    CpuOrder { dot_lanes: 1, libm_exp: false, ..wasm }
}
