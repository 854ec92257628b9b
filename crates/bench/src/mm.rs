//! Range allocator workloads M1-M4 of `BASELINE.md`, replicated exactly.
//!
//! All run on `Mm::new(0, 1 << 24)` (units = pages) unless the workload says otherwise,
//! with the xorshift64 generator reset to [`SEED`](crate::rng::SEED) for every run.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pddgpu_mm::{InsertMode, Mm, Node};

use crate::result::WorkloadResult;
use crate::rng::XorShift64;

/// The range of M1-M4: 16M pages.
pub const RANGE: u64 = 1 << 24;

/// Operations of the churn workloads (M1, M2).
pub const CHURN_OPS: u64 = 1_000_000;

/// Operations of the range-restricted phase of M3.
pub const M3_OPS: u64 = 100_000;

/// The restricted range of M3: `[0, 65536)`.
pub const M3_WINDOW: u64 = 65_536;

/// Scan-evict-insert cycles of M4.
pub const M4_CYCLES: u64 = 1_000;

/// Pages per node inserted by M4.
pub const M4_HOLE: u64 = 4096;

/// One of the range allocator workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmWorkload {
    /// Churn, size 1..512, BEST, live band 40-50% (1M ops).
    M1,
    /// As M1, alignment a random power of two 1..64, LOW.
    M2,
    /// Range-restricted BEST inserts/removes in `[0, 65536)` on a 70%-filled,
    /// half-freed range of [`RANGE`] pages (100,000 ops).
    M3,
    /// M3 on a range 16× larger (`1 << 28` pages): the restricted phase must stay flat.
    M3Wide,
    /// Full range; scan + evict + EVICT-insert cycles for 4096-page holes (1,000 cycles).
    M4,
}

impl MmWorkload {
    /// Every workload, in table order.
    pub const ALL: [Self; 5] = [Self::M1, Self::M2, Self::M3, Self::M3Wide, Self::M4];

    /// The id as printed in tables.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::M1 => "M1",
            Self::M2 => "M2",
            Self::M3 => "M3",
            Self::M3Wide => "M3x16",
            Self::M4 => "M4",
        }
    }

    /// The Linux C median in ns/op from `BASELINE.md` (M3x16 has none: compare with M3).
    #[must_use]
    pub fn linux_ns_per_op(self) -> Option<f64> {
        match self {
            Self::M1 => Some(432.8),
            Self::M2 => Some(827.8),
            Self::M3 => Some(1323.9),
            Self::M3Wide => None,
            Self::M4 => Some(1102.5),
        }
    }
}

/// Runs one repetition of `w` on a fresh allocator.
///
/// # Panics
/// If the allocator violates the workload's expectations (an invalid-argument error, an
/// M3/M4 step that must succeed failing): these are allocator bugs, not measurements.
#[must_use]
pub fn run(w: MmWorkload) -> WorkloadResult {
    run_with_cpu(w).0
}

/// As [`run`], also returning the CPU time the thread spent in the timed phase (Linux
/// `/proc/thread-self/schedstat`; `None` where unavailable). On a loaded machine this
/// is the fairer figure: wall time also counts the time other tasks held the CPU.
#[must_use]
pub fn run_with_cpu(w: MmWorkload) -> (WorkloadResult, Option<Duration>) {
    match w {
        MmWorkload::M1 => churn("M1", InsertMode::Best, false),
        MmWorkload::M2 => churn("M2", InsertMode::Low, true),
        MmWorkload::M3 => restricted("M3", RANGE),
        MmWorkload::M3Wide => restricted("M3x16", RANGE << 4),
        MmWorkload::M4 => scan_evict("M4"),
    }
}

/// M1/M2: the live-band churn of `BASELINE.md`.
fn churn(
    name: &'static str,
    mode: InsertMode,
    aligned: bool,
) -> (WorkloadResult, Option<Duration>) {
    let mut rng = XorShift64::default();
    let mut mm = Mm::new(0, RANGE).expect("valid range");
    let mut live: Vec<Node> = Vec::with_capacity(1 << 16);
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let failures = churn_phase(&mut mm, &mut rng, &mut live, mode, aligned);
    let elapsed = t.elapsed();
    let cpu = cpu_between(cpu0, thread_cpu());
    for n in live {
        mm.remove(n).expect("own node");
    }
    (
        WorkloadResult {
            name,
            ops: CHURN_OPS,
            failures,
            elapsed,
        },
        cpu,
    )
}

/// The timed part of M1/M2 (a separate frame, so that instruction counters can
/// bracket it); returns the number of failed inserts.
#[inline(never)]
fn churn_phase(
    mm: &mut Mm,
    rng: &mut XorShift64,
    live: &mut Vec<Node>,
    mode: InsertMode,
    aligned: bool,
) -> u64 {
    let mut live_units = 0u64;
    let (lo, hi) = (RANGE * 4 / 10, RANGE / 2);
    let mut failures = 0;
    for _ in 0..CHURN_OPS {
        let alloc = if live_units < lo {
            true
        } else if live_units >= hi {
            false
        } else {
            rng.next_u64() & 1 == 0
        };
        if alloc {
            let size = 1 + rng.below(512);
            let alignment = if aligned { 1 << rng.below(7) } else { 1 };
            match mm.insert(size, alignment, 0, mode) {
                Ok(n) => {
                    live_units += n.size();
                    live.push(n);
                }
                Err(_) => failures += 1,
            }
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let n = live.swap_remove(i);
            live_units -= n.size();
            mm.remove(n).expect("own node");
        }
    }
    failures
}

/// M3: pre-fill to 70% with M1 inserts, free half, then alternate restricted
/// insert/remove in `[0, 65536)` (only this phase is timed).
fn restricted(name: &'static str, range: u64) -> (WorkloadResult, Option<Duration>) {
    let mut rng = XorShift64::default();
    let mut mm = Mm::new(0, range).expect("valid range");
    let mut live: Vec<Node> = Vec::new();
    let mut live_units = 0u64;
    while live_units < range * 7 / 10 {
        let n = mm
            .insert(1 + rng.below(512), 1, 0, InsertMode::Best)
            .expect("pre-fill fits");
        live_units += n.size();
        live.push(n);
    }
    for _ in 0..live.len() / 2 {
        let i = rng.below(live.len() as u64) as usize;
        mm.remove(live.swap_remove(i)).expect("own node");
    }
    let mut held: Option<Node> = None;
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let failures = restricted_phase(&mut mm, &mut rng, &mut held);
    let elapsed = t.elapsed();
    let cpu = cpu_between(cpu0, thread_cpu());
    live.extend(held);
    for n in live {
        mm.remove(n).expect("own node");
    }
    (
        WorkloadResult {
            name,
            ops: M3_OPS,
            failures,
            elapsed,
        },
        cpu,
    )
}

/// The timed part of M3; returns the number of failed inserts.
#[inline(never)]
fn restricted_phase(mm: &mut Mm, rng: &mut XorShift64, held: &mut Option<Node>) -> u64 {
    let mut failures = 0;
    for op in 0..M3_OPS {
        if op % 2 == 0 {
            let size = 1 + rng.below(64);
            match mm.insert_in_range(size, 1, 0, 0, M3_WINDOW, InsertMode::Best) {
                Ok(n) => *held = Some(n),
                Err(_) => failures += 1,
            }
        } else if let Some(n) = held.take() {
            mm.remove(n).expect("own node");
        }
    }
    failures
}

/// M4: a full range, then scan-evict-insert cycles for 4096-page nodes in LRU order.
fn scan_evict(name: &'static str) -> (WorkloadResult, Option<Duration>) {
    let mut rng = XorShift64::default();
    let mut mm = Mm::new(0, RANGE).expect("valid range");
    let mut lru: VecDeque<Node> = VecDeque::new();
    let mut filled = 0u64;
    while filled < RANGE {
        let size = (1 + rng.below(512)).min(RANGE - filled);
        let n = mm.insert(size, 0, 0, InsertMode::Best).expect("fill fits");
        filled += size;
        lru.push_back(n);
    }
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let failures = scan_evict_phase(&mut mm, &mut lru);
    let elapsed = t.elapsed();
    let cpu = cpu_between(cpu0, thread_cpu());
    for n in lru {
        mm.remove(n).expect("own node");
    }
    (
        WorkloadResult {
            name,
            ops: M4_CYCLES,
            failures,
            elapsed,
        },
        cpu,
    )
}

/// The timed part of M4; returns the number of failed EVICT inserts.
#[inline(never)]
fn scan_evict_phase(mm: &mut Mm, lru: &mut VecDeque<Node>) -> u64 {
    let mut failures = 0;
    let mut scanned: Vec<Node> = Vec::new();
    let mut evict: Vec<bool> = Vec::new();
    for _ in 0..M4_CYCLES {
        scanned.clear();
        evict.clear();
        {
            let mut scan = mm
                .scan(M4_HOLE, 0, 0, 0, u64::MAX, InsertMode::Best)
                .expect("valid scan");
            while let Some(n) = lru.pop_front() {
                let fit = scan.add_block(&n).expect("own node");
                scanned.push(n);
                if fit {
                    break;
                }
            }
            for n in scanned.iter().rev() {
                evict.push(scan.remove_block(n).expect("reverse order"));
            }
            let _ = scan.finish();
        }
        // `evict` is in reverse scan order; put the kept nodes back at the LRU head in
        // their original order and evict the others.
        for (n, gone) in scanned.drain(..).rev().zip(evict.iter().copied()) {
            if gone {
                mm.remove(n).expect("own node");
            } else {
                lru.push_front(n);
            }
        }
        match mm.insert(M4_HOLE, 0, 0, InsertMode::Evict) {
            Ok(n) => lru.push_back(n),
            Err(_) => failures += 1,
        }
    }
    failures
}

/// The CPU time between two readings; `None` if either is missing or the clock did not
/// advance (schedstat is updated at scheduler events, too coarse for a few milliseconds).
fn cpu_between(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    let d = b?.checked_sub(a?)?;
    (!d.is_zero()).then_some(d)
}

/// CPU time consumed so far by the calling thread, if the kernel exposes it.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m4_cycles_all_succeed() {
        let r = run(MmWorkload::M4);
        assert_eq!((r.ops, r.failures), (M4_CYCLES, 0));
    }
}
