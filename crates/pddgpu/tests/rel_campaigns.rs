//! Bounded campaigns of the stateful fuzz drivers (the same code the libFuzzer
//! targets under `fuzz/` run): random byte programs against the buddy allocator, the
//! range allocator and the ioctl layer, every invariant checked after every step.
//!
//! `PDDGPU_SOAK=<n>` multiplies the number of cases (a longer soak; see
//! RELIABILITY.md). Each campaign prints its totals (`--nocapture` to see them).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use pddgpu::invariants::fuzz::{buddy_run, ioctl_run, mm_run, RunStats};
use proptest::prelude::*;

fn cases(base: u32) -> u32 {
    let soak: u32 = std::env::var("PDDGPU_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    base.saturating_mul(soak.max(1))
}

struct Totals {
    ops: AtomicU64,
    refused: AtomicU64,
    runs: AtomicU64,
}

impl Totals {
    const fn new() -> Self {
        Self {
            ops: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            runs: AtomicU64::new(0),
        }
    }

    fn add(&self, s: RunStats) {
        self.ops.fetch_add(s.ops, Ordering::Relaxed);
        self.refused.fetch_add(s.refused, Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self, name: &str) -> u64 {
        let ops = self.ops.load(Ordering::Relaxed);
        println!(
            "{name}: {} runs, {ops} ops, {} refused, 0 violations",
            self.runs.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        );
        ops
    }
}

static BUDDY: Totals = Totals::new();
static MM: Totals = Totals::new();
static IOCTL: Totals = Totals::new();

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]
    #[test]
    fn buddy_campaign(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let s = buddy_run(&data).map_err(|v| TestCaseError::fail(v.to_string()))?;
        BUDDY.add(s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]
    #[test]
    fn mm_campaign(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let s = mm_run(&data).map_err(|v| TestCaseError::fail(v.to_string()))?;
        MM.add(s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]
    #[test]
    fn ioctl_campaign(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        let s = ioctl_run(&data).map_err(|v| TestCaseError::fail(v.to_string()))?;
        IOCTL.add(s);
    }
}

/// Fixed programs: the campaigns really reach success and refusal paths.
#[test]
fn drivers_exercise_both_paths() {
    let data: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (name, run) in [
        ("buddy", buddy_run as fn(&[u8]) -> _),
        ("mm", mm_run),
        ("ioctl", ioctl_run),
    ] {
        let s = run(&data).unwrap();
        assert!(s.ok > 0 && s.refused > 0, "{name}: {s:?}");
        assert_eq!(s.ops, s.ok + s.refused);
    }
}

/// Prints the campaigns' totals. With `--test-threads=1` the harness runs tests in
/// name order, so this runs last and the totals are complete (the RELIABILITY.md
/// figures are taken that way).
#[test]
fn zz_print_totals() {
    BUDDY.report("buddy");
    MM.report("mm");
    IOCTL.report("ioctl");
}

/// Inputs the libFuzzer targets once flagged, kept as regressions.
#[test]
fn fuzzer_regressions() {
    // mmap of an object created with NO_CPU_ACCESS answers EPERM (as amdgpu does).
    let eperm_mmap = [
        32, 35, 35, 249, 32, 45, 8, 1, 45, 0, 65, 107, 0, 142, 4, 0, 0, 0, 61, 10,
    ];
    let s = ioctl_run(&eperm_mmap).unwrap();
    assert!(s.refused > 0, "{s:?}");
}
