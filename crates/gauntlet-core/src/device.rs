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
