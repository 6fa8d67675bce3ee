//! Each kernel against candle on random inputs. Needs a GPU adapter (lavapipe will do): without
//! one these tests say so and pass, unless WASMRAG_REQUIRE_GPU=1 (the test script sets it).

use super::decoder::{matvec_groups, Kernels};
use super::runtime::{per_64, Alloc};
use super::Gpu;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

fn gpu() -> Option<Gpu> {
    match pollster::block_on(Gpu::new(true)) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var_os("WASMRAG_REQUIRE_GPU").is_none() => {
            eprintln!("skipping GPU kernel test: {e}");
            None
        }
        Err(e) => panic!("WASMRAG_REQUIRE_GPU is set but: {e}"),
    }
}

/// Deterministic values in [-scale, scale).
fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E3779B97F4A7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The per-chunk uniform: `count` tokens from position `pos`.
fn step(gpu: &Gpu, pos: u32, count: u32) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    let contents: Vec<u8> = [pos, count, 0, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: &contents, usage: wgpu::BufferUsages::UNIFORM })
}

fn bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Runs one kernel launch and reads `len` floats of `result` back.
fn run(gpu: &Gpu, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer], workgroups: (u32, u32), result: &wgpu::Buffer, len: usize) -> Vec<f32> {
    let alloc = Alloc { device: &gpu.device };
    let dispatch = alloc.dispatch(pipeline, buffers, workgroups);
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (len * 4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&dispatch.pipeline);
        pass.set_bind_group(0, &dispatch.bind_group, &[]);
        pass.dispatch_workgroups(dispatch.workgroups.0, dispatch.workgroups.1, 1);
    }
    encoder.copy_buffer_to_buffer(result, 0, &staging, 0, (len * 4) as u64);
    let out = pollster::block_on(gpu.read_back(encoder, &staging)).unwrap();
    out.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn assert_close(gpu: &[f32], cpu: &[f32], tolerance: f32, what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        assert!((g - c).abs() <= tolerance * (1.0 + c.abs()), "{what}[{i}]: gpu {g} vs candle {c}");
    }
}

#[test]
fn q8_0_matvec_matches_candle_quantized_matmul() {
    let Some(gpu) = gpu() else { return };
    let (rows, cols) = (300, 576);
    let weights = random(rows * cols, 1, 0.5);
    let x = random(cols, 2, 2.0);
    let qt = QTensor::quantize(&Tensor::from_vec(weights, (rows, cols), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
    let blocks = qt.data().unwrap().to_vec();
    let expected: Vec<f32> = QMatMul::from_qtensor(qt)
        .unwrap()
        .forward(&Tensor::from_vec(x.clone(), (1, cols), &Device::Cpu).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();

    let kernels = Kernels::new(&gpu.device);
    let alloc = Alloc { device: &gpu.device };
    let weight = alloc.weight(&blocks, rows);
    let input = alloc.storage(&bytes(&x));
    let (xq, xd, y) = (alloc.zeroed(cols / 4), alloc.zeroed(cols / 32), alloc.zeroed(rows));
    run(&gpu, &kernels.quantize, &[&input, &xq, &xd], ((cols / 32) as u32, 1), &xd, cols / 32);
    let dims = alloc.dims(rows, cols / 32, 0, 1, 0.0);
    let got = run(&gpu, &kernels.matvec, &[&dims, &step(&gpu, 0, 1), &weight.quants, &weight.scales, &xq, &xd, &y], (matvec_groups(rows), 1), &y, rows);
    assert_close(&got, &expected, 1e-5, "matvec");
    assert_eq!(got, expected, "matvec is not bit-for-bit candle's");
}

#[test]
fn rmsnorm_matches_candle() {
    let Some(gpu) = gpu() else { return };
    let n = 576;
    let (x, w) = (random(n, 3, 3.0), random(n, 4, 1.0));
    let t = |v: &[f32]| Tensor::from_vec(v.to_vec(), n, &Device::Cpu).unwrap();
    let expected: Vec<f32> = candle_nn::ops::rms_norm(&t(&x).unsqueeze(0).unwrap(), &t(&w), 1e-5).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let kernels = Kernels::new(&gpu.device);
    let alloc = Alloc { device: &gpu.device };
    let y = alloc.zeroed(n);
    let one = step(&gpu, 0, 1);
    let got = run(&gpu, &kernels.rmsnorm, &[&alloc.dims(n, 0, 0, 0, 1e-5), &one, &alloc.storage(&bytes(&x)), &alloc.storage(&bytes(&w)), &y], (1, 1), &y, n);
    assert_close(&got, &expected, 1e-5, "rmsnorm");
}

#[test]
fn rope_matches_candle_interleaved_rope() {
    let Some(gpu) = gpu() else { return };
    let (heads, kv_heads, hd, context, pos) = (9, 3, 64, 16, 11);
    let q = random(heads * hd, 5, 1.0);
    let k = random(kv_heads * hd, 6, 1.0);
    let v = random(kv_heads * hd, 7, 1.0);
    let theta: Vec<f32> = (0..hd).step_by(2).map(|i| 1f32 / 10000f32.powf(i as f32 / hd as f32)).collect();
    let angles: Vec<f32> = (0..context).flat_map(|p| theta.iter().map(move |t| p as f32 * t)).collect();
    let cos: Vec<f32> = angles.iter().map(|a| a.cos()).collect();
    let sin: Vec<f32> = angles.iter().map(|a| a.sin()).collect();
    let cpu = |x: &[f32], h: usize| -> Vec<f32> {
        let t = Tensor::from_vec(x.to_vec(), (1, h, 1, hd), &Device::Cpu).unwrap();
        let c = Tensor::from_vec(cos[pos * hd / 2..(pos + 1) * hd / 2].to_vec(), (1, hd / 2), &Device::Cpu).unwrap();
        let s = Tensor::from_vec(sin[pos * hd / 2..(pos + 1) * hd / 2].to_vec(), (1, hd / 2), &Device::Cpu).unwrap();
        candle_nn::rotary_emb::rope_i(&t, &c, &s).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    };

    let kernels = Kernels::new(&gpu.device);
    let alloc = Alloc { device: &gpu.device };
    let step_uniform = step(&gpu, pos as u32, 1);
    let (qb, kb, vb) = (alloc.storage(&bytes(&q)), alloc.storage(&bytes(&k)), alloc.storage(&bytes(&v)));
    let (k_cache, v_cache) = (alloc.zeroed(context * kv_heads * hd), alloc.zeroed(context * kv_heads * hd));
    let dims = alloc.dims(heads, kv_heads, hd, context, 0.0);
    let buffers = [&dims, &step_uniform, &qb, &kb, &vb, &k_cache, &v_cache, &alloc.storage(&bytes(&cos)), &alloc.storage(&bytes(&sin))];
    let got_q = run(&gpu, &kernels.rope, &buffers, per_64((heads + kv_heads) * hd / 2), &qb, heads * hd);
    assert_close(&got_q, &cpu(&q, heads), 1e-6, "rope q");
    let cache = run(
        &gpu,
        &kernels.rope,
        &[&dims, &step_uniform, &alloc.storage(&bytes(&q)), &kb, &vb, &k_cache, &v_cache, buffers[7], buffers[8]],
        per_64((heads + kv_heads) * hd / 2),
        &k_cache,
        context * kv_heads * hd,
    );
    let row = pos * kv_heads * hd;
    assert_close(&cache[row..row + kv_heads * hd], &cpu(&k, kv_heads), 1e-6, "rope k in cache");
    let values = run(&gpu, &kernels.rope, &buffers, per_64((heads + kv_heads) * hd / 2), &v_cache, context * kv_heads * hd);
    assert_eq!(&values[row..row + kv_heads * hd], &v[..], "v copied into the cache");
}

/// SiLU·up as candle computes it, over the range real activations take. Natively the kernel's
/// exp rounds correctly and glibc's expf is off by one ulp on rare inputs, so a few results may
/// differ in their last bit; the wasm build copies the browser's libm step for step.
#[test]
fn silu_mul_matches_candle() {
    let Some(gpu) = gpu() else { return };
    let kernels = Kernels::new(&gpu.device);
    let alloc = Alloc { device: &gpu.device };
    let n = 1536 * 4;
    for scale in [1.0f32, 8.0, 30.0] {
        let (gate, up) = (random(n, 11, scale), random(n, 12, scale));
        let t = |v: &[f32]| Tensor::from_vec(v.to_vec(), n, &Device::Cpu).unwrap();
        let expected: Vec<f32> = (candle_nn::ops::silu(&t(&gate)).unwrap() * t(&up)).unwrap().to_vec1().unwrap();
        let h = alloc.zeroed(n);
        let buffers = [&alloc.dims(n, 0, 0, 0, 0.0), &step(&gpu, 0, 1), &alloc.storage(&bytes(&gate)), &alloc.storage(&bytes(&up)), &h];
        let got = run(&gpu, &kernels.silu_mul, &buffers, per_64(n), &h, n);
        let ulps = |a: f32, b: f32| (a.to_bits() as i64 - b.to_bits() as i64).abs();
        assert!(got.iter().zip(&expected).all(|(&g, &c)| ulps(g, c) <= 1), "scale {scale}: more than one ulp off");
        let differ = got.iter().zip(&expected).filter(|(g, c)| g.to_bits() != c.to_bits()).count();
        assert!(differ * 1000 <= n, "scale {scale}: {differ} of {n} differ in the last bit");
    }
}

/// Activation quantisation equals candle's Q8_0 blocks byte for byte, including blocks so small
/// that their f16 scale is subnormal and blocks whose values fall exactly halfway between two
/// integers (candle rounds those away from zero).
#[test]
fn quantize_matches_candle_on_small_and_halfway_blocks() {
    let Some(gpu) = gpu() else { return };
    let mut x = Vec::new();
    for scale in [1.0f32, 30.0, 5e-3, 1e-4, 1e-6] {
        x.extend(random(32, scale.to_bits() as u64, scale));
    }
    let mut halfway: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 128.0).collect();
    halfway[0] = 127.0 / 128.0;
    x.extend(halfway);
    let blocks = x.len() / 32;
    let qt = QTensor::quantize(&Tensor::from_vec(x.clone(), (1, x.len()), &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
    let expected = qt.data().unwrap().to_vec();

    let kernels = Kernels::new(&gpu.device);
    let alloc = Alloc { device: &gpu.device };
    let (input, xq, xd) = (alloc.storage(&bytes(&x)), alloc.zeroed(x.len() / 4), alloc.zeroed(blocks));
    let scales = run(&gpu, &kernels.quantize, &[&input, &xq, &xd], (blocks as u32, 1), &xd, blocks);
    let quants: Vec<u8> =
        run(&gpu, &kernels.quantize, &[&input, &xq, &xd], (blocks as u32, 1), &xq, x.len() / 4).iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
    for (b, block) in expected.chunks_exact(34).enumerate() {
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        assert_eq!(scales[b].to_bits(), d.to_bits(), "block {b}: scale {} vs candle {d}", scales[b]);
        assert_eq!(&quants[b * 32..(b + 1) * 32], &block[2..], "block {b}: quants");
    }
}

/// The corrections behind the kernels' `divide` and `square_root` reach the correctly rounded
/// result from a start two ulp off, as a GPU with an approximate `/` or `sqrt` would give them.
/// (lavapipe's own `/` and `sqrt` are exact, so the test spoils them first.)
#[test]
fn division_and_square_root_round_to_nearest_from_a_rough_start() {
    let Some(gpu) = gpu() else { return };
    let source = format!(
        "{}\n{}",
        include_str!("shaders/common.wgsl"),
        r"
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    zero = u32(groups.x == 0u);
    let i = id.x;
    if (i < arrayLength(&b)) {
        let off = select(0xfffffffeu, 2u, (i & 1u) == 0u);
        let q = bitcast<f32>(bitcast<u32>(fence(a[i] / b[i])) + off);
        out[2u * i] = nearest_quotient(a[i], b[i], q);
        let s = bitcast<f32>(bitcast<u32>(fence(sqrt(abs(a[i])))) + off);
        out[2u * i + 1u] = nearest_root(abs(a[i]), s);
    }
}"
    );
    let pipeline = super::runtime::compile(&gpu.device, "rounding test", &source, &[]);
    let n = 1 << 16;
    let spread = |v: Vec<f32>, seed: u64| -> Vec<f32> { v.iter().zip(random(n, seed, 20.0)).map(|(x, e)| x * e.round().exp2()).collect() };
    let mut a = spread(random(n, 21, 1.0), 22);
    let mut b = spread(random(n, 23, 1.0), 24);
    (a[0], b[0], a[1], b[1]) = (1.0, 127.0, 0.189_595_55, 127.0);
    let alloc = Alloc { device: &gpu.device };
    let out = alloc.zeroed(2 * n);
    let got = run(&gpu, &pipeline, &[&alloc.storage(&bytes(&a)), &alloc.storage(&bytes(&b)), &out], per_64(n), &out, 2 * n);
    for i in 0..n {
        assert_eq!(got[2 * i].to_bits(), (a[i] / b[i]).to_bits(), "{} / {}: {} vs {}", a[i], b[i], got[2 * i], a[i] / b[i]);
        assert_eq!(got[2 * i + 1].to_bits(), a[i].abs().sqrt().to_bits(), "sqrt {}: {}", a[i].abs(), got[2 * i + 1]);
    }
}

/// The sampling kernel draws the CPU path's token ([`Draw::pick`]) for the same logits and
/// settings: hot and cold temperatures, nuclei from one token to all, many seeds and positions.
#[test]
fn sample_kernel_draws_the_cpu_token() {
    use crate::sample::Draw;
    let Some(gpu) = gpu() else { return };
    let kernels = Kernels::new(&gpu.device);
    let alloc = Alloc { device: &gpu.device };
    for (vocab, seed) in [(49152usize, 31u64), (1000, 32)] {
        let logits = random(vocab, seed, 12.0);
        let input = alloc.storage(&bytes(&logits));
        let (weights, out) = (alloc.zeroed(vocab), alloc.zeroed(1));
        let mut picked = std::collections::HashSet::new();
        for (case, (temperature, top_p)) in [(0.7f32, 0.9f32), (1.0, 1.0), (0.2, 0.5), (2.0, 0.95), (1.3, 1e-4)].into_iter().enumerate() {
            for position in 0..8u32 {
                let draw = Draw { temperature, top_p, seed: seed * 1000 + case as u64, position };
                let settings: Vec<u8> = [temperature.to_bits(), top_p.to_bits(), draw.seed as u32, (draw.seed >> 32) as u32, position, vocab as u32, 0, 0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                let uniform = {
                    use wgpu::util::DeviceExt;
                    gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: &settings, usage: wgpu::BufferUsages::UNIFORM })
                };
                let got = run(&gpu, &kernels.sample, &[&uniform, &input, &weights, &out], (1, 1), &out, 1)[0].to_bits();
                assert_eq!(got, draw.pick(&logits), "vocab {vocab}, {draw:?}");
                picked.insert(got);
            }
        }
        assert!(picked.len() > 10, "the draws vary: {picked:?}");
    }
}
