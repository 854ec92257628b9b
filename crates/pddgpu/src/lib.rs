//! The PDDGPU driver: simulated hardware, VRAM and GTT managers, the robustness layer,
//! GEM and the uapi.

#![forbid(unsafe_code)]

pub mod bo;
pub mod device;
pub mod gem;
pub mod gtt_mgr;
pub mod hw;
pub mod invariants;
pub mod ioctl;
pub mod mgr_common;
pub mod ttm_glue;
pub mod uapi;
pub mod vram_mgr;

pub use bo::{BoParam, PddgpuBo};
pub use device::{Device, DeviceConfig};
pub use gem::{DmaBuf, File, GemObject, Mapping, OpenFile};

// The repository README's Rust examples run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
