//! The GPU runtime both graphs (the llama decoder and the BERT encoder) are built on: compiling
//! WGSL pipelines, allocating buffers, binding them into kernel launches, and the Q8_0 weight
//! layout the matvec kernel reads.

use wgpu::util::DeviceExt;

/// Bytes of one Q8_0 block: an f16 scale and 32 int8 values.
pub(crate) const Q8_0_BLOCK: usize = 34;

/// One kernel launch of the per-token graph.
pub(crate) struct Dispatch {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) bind_group: wgpu::BindGroup,
    pub(crate) workgroups: (u32, u32),
}

/// A Q8_0 weight matrix on the GPU.
pub(crate) struct Weight {
    pub(crate) quants: wgpu::Buffer,
    pub(crate) scales: wgpu::Buffer,
    pub(crate) rows: usize,
    pub(crate) blocks: usize,
}

pub(crate) fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Splits Q8_0 blocks into a stream of packed int8 (4 per u32) and a stream of f32 scales.
fn repack_q8_0(blocks: &[u8]) -> (Vec<u8>, Vec<f32>) {
    let count = blocks.len() / Q8_0_BLOCK;
    let mut quants = Vec::with_capacity(count * 32);
    let mut scales = Vec::with_capacity(count);
    for block in blocks.chunks_exact(Q8_0_BLOCK) {
        scales.push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
        quants.extend_from_slice(&block[2..]);
    }
    (quants, scales)
}

/// A compute pipeline from WGSL `source` with its entry point `main`, a layout derived from
/// the bindings it uses, and values for its `override` constants.
pub(crate) fn compile(device: &wgpu::Device, name: &str, source: &str, constants: &[(&str, f64)]) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(name), source: wgpu::ShaderSource::Wgsl(source.into()) });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
        cache: None,
    })
}

/// Buffer and bind-group helpers shared by the decoder and the kernel tests.
pub(crate) struct Alloc<'a> {
    pub(crate) device: &'a wgpu::Device,
}

impl Alloc<'_> {
    pub(crate) fn storage(&self, bytes: &[u8]) -> wgpu::Buffer {
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let mut contents = bytes.to_vec();
        contents.resize(bytes.len().max(4).next_multiple_of(4), 0);
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: &contents, usage })
    }

    pub(crate) fn zeroed(&self, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: (len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    pub(crate) fn dims(&self, a: usize, b: usize, c: usize, d: usize, eps: f32) -> wgpu::Buffer {
        let mut bytes = u32_bytes(&[a as u32, b as u32, c as u32, d as u32]);
        bytes.extend(f32_bytes(&[eps, 0.0, 0.0, 0.0]));
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: &bytes, usage: wgpu::BufferUsages::UNIFORM })
    }

    pub(crate) fn dispatch(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer], workgroups: (u32, u32)) -> Dispatch {
        let entries: Vec<wgpu::BindGroupEntry> =
            buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
        let bind_group =
            self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        Dispatch { pipeline: pipeline.clone(), bind_group, workgroups }
    }

    pub(crate) fn weight(&self, blocks: &[u8], rows: usize) -> Weight {
        let (quants, scales) = repack_q8_0(blocks);
        let blocks = scales.len() / rows.max(1);
        Weight { quants: self.storage(&quants), scales: self.storage(&f32_bytes(&scales)), rows, blocks }
    }
}

/// Workgroups for `n` threads in workgroups of 64.
pub(crate) fn per_64(n: usize) -> (u32, u32) {
    ((n as u32).div_ceil(64), 1)
}
