//! Simulated PDDGPU hardware (VRAM aperture, GART, copy engine).
