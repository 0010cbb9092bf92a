//! The one place that chooses where tensors live.
//!
//! burn 0.22 selects its backend at run time through a [`Device`]; gauntlet keeps that choice
//! here, so switching to a GPU backend (`cuda`) touches this file only.

pub use burn::tensor::Device;

/// The device for plain (gradient-free) computation: burn's `flex` CPU backend.
pub fn compute_device() -> Device {
    Device::flex()
}

/// The same device with automatic differentiation enabled, for input gradients.
pub fn autodiff_device() -> Device {
    compute_device().autodiff()
}

/// Tells the C allocator to keep freed tensor buffers for reuse instead of handing them back
/// to the kernel. Every operator allocates its output (megabytes per batch); by default glibc
/// maps large blocks freshly and unmaps them on free, so each pass pays page faults and TLB
/// flushes — measured at about a third of an attack's time on a 2-core VM. The heap is never
/// trimmed either: a gradient pass keeps every activation until its backward step, so the
/// heap's free top after one pass can exceed any fixed threshold (over 1 GiB for ResNet-50 at
/// batch 16), and trimming it made the next pass fault every page in again (ResNet-50 forward
/// and input gradient, release build: 7.5 → 9.5 samples per CPU-second). The process thus
/// keeps its peak heap. Call once, early, from a program (the CLI does); a no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before the work starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        // -1: never return the heap's free top to the kernel.
        libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
    }
}
