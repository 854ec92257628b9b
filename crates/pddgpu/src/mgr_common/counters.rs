//! Manager statistics counters.

use core::sync::atomic::{AtomicU64, Ordering};

/// Event counters of one manager (DESIGN.md §5.4 statistics).
///
/// These are statistics, not state: nothing is decided on them, so they are relaxed
/// atomics updated without the manager lock. Usage itself (which *is* state) is kept by the
/// managers under their lock; the high-water mark samples it after each allocation.
///
/// # Synchronization
///
/// Lock-free; a [`CounterSnapshot`] taken while other threads run is a per-field snapshot,
/// not an atomic picture of all fields.
#[derive(Debug, Default)]
pub struct MgrCounters {
    allocations: AtomicU64,
    frees: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    evictions: AtomicU64,
    bytes_moved: AtomicU64,
    high_water: AtomicU64,
}

/// A copy of [`MgrCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Successful allocations.
    pub allocations: u64,
    /// Frees (every free counts, in every state).
    pub frees: u64,
    /// Allocations that returned an error (any kind), counted once per call.
    pub failures: u64,
    /// Retries after no-space (each wait-and-try-again counts once).
    pub retries: u64,
    /// BOs evicted from this manager (incremented by the TTM glue).
    pub evictions: u64,
    /// Bytes moved out of / into this manager by evictions and moves (TTM glue).
    pub bytes_moved: u64,
    /// Highest usage seen, in bytes.
    pub high_water: u64,
}

impl MgrCounters {
    pub(crate) fn allocated(&self) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn freed(&self) {
        self.frees.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Raises the high-water mark to `usage` bytes if it is higher.
    pub(crate) fn note_usage(&self, usage: u64) {
        self.high_water.fetch_max(usage, Ordering::Relaxed);
    }

    /// Records one eviction of `bytes` bytes out of this manager (for the TTM glue).
    pub fn record_eviction(&self, bytes: u64) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
        self.bytes_moved.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records `bytes` bytes moved by a non-evicting move (for the TTM glue).
    pub fn record_bytes_moved(&self, bytes: u64) {
        self.bytes_moved.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The current values.
    #[must_use]
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            allocations: self.allocations.load(Ordering::Relaxed),
            frees: self.frees.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            bytes_moved: self.bytes_moved.load(Ordering::Relaxed),
            high_water: self.high_water.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count() {
        let c = MgrCounters::default();
        c.allocated();
        c.allocated();
        c.freed();
        c.failed();
        c.retried();
        c.note_usage(10);
        c.note_usage(4);
        c.record_eviction(4096);
        c.record_bytes_moved(100);
        assert_eq!(
            c.snapshot(),
            CounterSnapshot {
                allocations: 2,
                frees: 1,
                failures: 1,
                retries: 1,
                evictions: 1,
                bytes_moved: 4196,
                high_water: 10
            }
        );
    }
}
