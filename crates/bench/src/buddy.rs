//! Buddy allocator workloads B1-B6 (filled in with the buddy crate).
