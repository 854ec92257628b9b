//! The allocator workloads of `BASELINE.md`, replicated exactly (same RNG, seeds,
//! live-band policy and sizes), so that our figures compare with the Linux C ones.
//!
//! Each workload is a plain function over a fresh allocator; the criterion benches in
//! `benches/` and the `pddgpu bench` command both call these, so there is one definition
//! of every workload.

pub mod buddy;
pub mod mm;
pub mod result;
pub mod rng;
