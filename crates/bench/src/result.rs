//! What every workload returns: operations, failures and the time they took.

use std::time::Duration;

/// The outcome of one run of a workload (one repetition, fresh allocator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadResult {
    /// The workload id as in `BASELINE.md` (`"M1"`, `"B4hi"`, ...).
    pub name: &'static str,
    /// Timed operations (allocator API calls, or cycles where the recipe says so).
    pub ops: u64,
    /// Timed operations that failed (e.g. `NoSpace` inside the live band).
    pub failures: u64,
    /// Wall time of the timed phase only (set-up such as pre-filling excluded).
    pub elapsed: Duration,
}

impl WorkloadResult {
    /// Mean wall time per timed operation, in nanoseconds.
    #[must_use]
    pub fn ns_per_op(&self) -> f64 {
        if self.ops == 0 {
            return 0.0;
        }
        self.elapsed.as_secs_f64() * 1e9 / self.ops as f64
    }
}

/// Median and extremes of ns/op over `reps` runs of `run` (the `BASELINE.md` statistic).
///
/// Returns `(median, min, max)`; `reps` of 0 is treated as 1.
pub fn median_ns_per_op(reps: usize, mut run: impl FnMut() -> WorkloadResult) -> (f64, f64, f64) {
    let mut v: Vec<f64> = (0..reps.max(1)).map(|_| run().ns_per_op()).collect();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}
