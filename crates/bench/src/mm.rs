//! Range allocator workloads M1-M4 (filled in with the mm crate).
