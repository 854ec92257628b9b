//! The VRAM manager: device memory over the buddy allocator.
