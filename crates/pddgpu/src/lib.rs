//! The PDDGPU driver: simulated hardware, VRAM and GTT managers, the robustness layer,
//! GEM and the uapi.

#![forbid(unsafe_code)]

pub mod hw;
pub mod uapi;
