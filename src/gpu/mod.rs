//! The WebGPU engine: a small fixed-graph runtime on `wgpu` (the browser's WebGPU on wasm32,
//! Vulkan natively) for exactly wasmrag's two model families (llama decoder, BERT encoder), with candle kept as the CPU path
//! and as the oracle the kernels are tested against. WGSL kernels use f32 and integer maths
//! only, so they run without `shader-f16` or subgroups (SwiftShader has neither).

mod decoder;
mod embedder;
mod numerics;
mod runtime;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

pub use decoder::GpuDecoder;
pub use embedder::{BertShape, GpuEmbedder};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use thiserror::Error;

/// Why the GPU engine could not start or run; every case means "use the CPU instead".
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum GpuError {
    /// No WebGPU/Vulkan adapter exists (no `navigator.gpu`, no driver).
    #[error("no GPU adapter is available")]
    NoAdapter,
    /// Only a software fallback adapter exists and it was not allowed (it is far slower than
    /// the CPU path).
    #[error("only a software fallback GPU adapter ({0}) is available")]
    FallbackOnly(String),
    /// The adapter refused a device with the limits the engine needs.
    #[error("could not open the GPU device: {0}")]
    Device(String),
    /// The model uses a tensor type or shape the GPU kernels do not implement.
    #[error("the GPU engine does not support this model: {0}")]
    Unsupported(String),
    /// The GPU ran out of memory.
    #[error("the GPU ran out of memory: {0}")]
    OutOfMemory(String),
    /// The device was lost (driver reset, tab in background too long, destroyed).
    #[error("the GPU device was lost: {0}")]
    Lost(String),
    /// A validation or internal error from the WebGPU implementation.
    #[error("GPU error: {0}")]
    Internal(String),
}

impl GpuError {
    /// A stable, machine-readable name for this error, the `code` JavaScript callers see.
    pub fn code(&self) -> &'static str {
        match self {
            GpuError::NoAdapter | GpuError::FallbackOnly(_) | GpuError::Device(_) => "gpu_unavailable",
            GpuError::Unsupported(_) => "gpu_unsupported",
            GpuError::OutOfMemory(_) => "out_of_memory",
            GpuError::Lost(_) => "gpu_lost",
            GpuError::Internal(_) => "gpu_error",
        }
    }
}

impl From<GpuError> for crate::GenerateError {
    fn from(e: GpuError) -> Self {
        crate::GenerateError::Accelerator { code: e.code(), message: e.to_string() }
    }
}

/// What the adapter is, for display and for routing (a fallback adapter is a CPU emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "SwiftShader Device" or "llvmpipe".
    pub name: String,
    /// Backend, e.g. "BrowserWebGpu" or "Vulkan".
    pub backend: String,
    /// Whether it is a software rasteriser rather than a real GPU.
    pub software: bool,
}

/// An open GPU device and its queue, shared by the engines built on it.
#[derive(Clone)]
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    summary: AdapterSummary,
    lost: Arc<AtomicBool>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("adapter", &self.summary).finish()
    }
}

impl Gpu {
    /// Opens the default adapter. `allow_software` accepts a software adapter (SwiftShader,
    /// llvmpipe): right for tests, too slow for real use.
    pub async fn new(allow_software: bool) -> Result<Gpu, GpuError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = if cfg!(target_arch = "wasm32") { wgpu::Backends::BROWSER_WEBGPU } else { wgpu::Backends::VULKAN };
        let instance = wgpu::Instance::new(descriptor);
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        };
        let adapter = instance.request_adapter(&options).await.map_err(|_| GpuError::NoAdapter)?;
        let info = adapter.get_info();
        let software =
            info.device_type == wgpu::DeviceType::Cpu || ["swiftshader", "llvmpipe", "lavapipe"].iter().any(|s| info.name.to_lowercase().contains(s));
        // Browsers may hide the adapter's name; say at least what kind it is.
        let name = match info.name.trim() {
            "" if software => "software WebGPU adapter".to_string(),
            "" => "WebGPU adapter".to_string(),
            named => named.to_string(),
        };
        let summary = AdapterSummary { name, backend: format!("{:?}", info.backend), software };
        if software && !allow_software {
            return Err(GpuError::FallbackOnly(summary.name));
        }
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("wasmrag"),
            required_features: wgpu::Features::empty(),
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = adapter.request_device(&descriptor).await.map_err(|e| GpuError::Device(e.to_string()))?;
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        device.set_device_lost_callback(move |_, _| flag.store(true, Ordering::Relaxed));
        Ok(Gpu { device, queue, summary, lost })
    }

    /// What the adapter is.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.summary
    }

    /// Whether the device has been lost; every later call fails and the CPU should take over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Releases the device and all its GPU memory now. Engines built on it then fail with
    /// [`GpuError::Lost`], so their callers go on on the CPU, as after a real device loss.
    pub fn destroy(&self) {
        self.lost.store(true, Ordering::Relaxed);
        self.device.destroy();
    }

    /// Runs `work` inside out-of-memory and validation error scopes, turning what the
    /// implementation reports into a [`GpuError`].
    pub(crate) async fn checked<T>(&self, work: impl FnOnce() -> T) -> Result<T, GpuError> {
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = work();
        let validation = validation.pop().await;
        let memory = memory.pop().await;
        if let Some(e) = memory {
            return Err(GpuError::OutOfMemory(e.to_string()));
        }
        if let Some(e) = validation {
            return Err(GpuError::Internal(e.to_string()));
        }
        if self.is_lost() {
            return Err(GpuError::Lost("during setup".into()));
        }
        Ok(value)
    }

    /// Copies the first `len` bytes of `buffer` (which must allow COPY_SRC) back to the CPU.
    pub(crate) async fn read_back(&self, encoder: wgpu::CommandEncoder, staging: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
        self.queue.submit([encoder.finish()]);
        let (sender, receiver) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Lost(e.to_string()))?;
        let mapped = receiver.await.map_err(|_| GpuError::Lost("the read-back was dropped".into()))?;
        mapped.map_err(|e| if self.is_lost() { GpuError::Lost(e.to_string()) } else { GpuError::Internal(e.to_string()) })?;
        let bytes = staging.slice(..).get_mapped_range().map_err(|e| GpuError::Internal(e.to_string()))?.to_vec();
        staging.unmap();
        Ok(bytes)
    }
}
