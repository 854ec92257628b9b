//! Criterion harness (workloads arrive with their allocator crate).
fn main() {}
