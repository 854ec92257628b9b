//! The GTT manager: GART address space over the range allocator.
