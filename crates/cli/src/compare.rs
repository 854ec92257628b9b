//! Comparison columns of `pddgpu bench --compare`: the same recipes on two allocator
//! crates from crates.io.
//!
//! Neither crate is a buddy allocator or `drm_mm`, so only the workloads whose requests
//! they can express are run, and the mapping is stated here so the numbers are read for
//! what they are:
//!
//! | workload | `offset-allocator` 0.2 | `range-alloc` 0.1 | unit |
//! |---|---|---|---|
//! | B1 alloc / B1 free | yes | no (sorted `Vec` free list: the 4 M random frees are quadratic) | 4 KiB |
//! | B2 | yes | yes | 4 KiB |
//! | B3 | yes | yes | 4 KiB |
//! | M1 | yes | yes | 1 page |
//!
//! - Units: B1-B3 run on 16 GiB / 4 KiB = 4,194,304 units and a request of `size` bytes
//!   asks for `size / 4096` contiguous units; M1 runs on `1 << 24` units, as `drm_mm`.
//! - The RNG, the live-band policy (thresholds computed exactly as `pddgpu_bench` does),
//!   the size draws and the choice of the allocation to free are identical, so both sides
//!   see the same request stream as long as the same requests succeed.
//! - What differs: both crates return one contiguous extent, with no alignment. B2's
//!   buddy blocks are naturally aligned to their size (a stronger placement), B3's buddy
//!   allocation may be split into several blocks (a weaker one). `offset-allocator` is a
//!   two-level bin allocator (good fit, O(1)); `range-alloc` is best fit over a sorted
//!   list of free ranges (O(free ranges) per call). B4/B5/M3 (ranges), B5/B5t
//!   (contiguous on a prepared heap), B6 (top-down), M2 (LOW with alignment) and M4
//!   (eviction scan) have no counterpart in either API and are not run.

use std::ops::Range;
use std::time::Instant;

use offset_allocator::{Allocation, Allocator};
use pddgpu_bench::buddy::{BuddyWorkload, CHUNK, CHURN_OPS, HEAP};
use pddgpu_bench::mm::{self, MmWorkload};
use pddgpu_bench::result::WorkloadResult;
use pddgpu_bench::rng::XorShift64;
use range_alloc::RangeAllocator;

use crate::bench::WorkloadId;

/// An allocator crate the bench table can compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Competitor {
    /// `offset-allocator` (Sebastian Aaltonen's OffsetAllocator in Rust).
    OffsetAllocator,
    /// `range-alloc` (wgpu's range allocator).
    RangeAlloc,
}

impl Competitor {
    /// Both competitors, in column order.
    pub const ALL: [Self; 2] = [Self::OffsetAllocator, Self::RangeAlloc];

    /// The crate name, as the column header.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::OffsetAllocator => "offset-allocator",
            Self::RangeAlloc => "range-alloc",
        }
    }
}

/// Whether `c` can run workload `w` (the table in the module docs).
#[must_use]
pub fn fits(w: WorkloadId, c: Competitor) -> bool {
    match w {
        WorkloadId::Buddy(BuddyWorkload::B1Alloc | BuddyWorkload::B1Free) => {
            c == Competitor::OffsetAllocator
        }
        WorkloadId::Buddy(BuddyWorkload::B2 | BuddyWorkload::B3)
        | WorkloadId::Mm(MmWorkload::M1) => true,
        _ => false,
    }
}

/// What to run: B1 (both phases from one run) or one other workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// B1: fill, then free in shuffled order; yields (alloc, free).
    B1,
    /// Any other workload.
    Single(WorkloadId),
}

/// Runs one repetition of `recipe` on `c`; empty when the recipe does not fit `c`.
#[must_use]
pub fn run(recipe: Recipe, c: Competitor) -> Vec<WorkloadResult> {
    let units = u32::try_from(HEAP / CHUNK).unwrap_or(u32::MAX);
    let pages = u32::try_from(mm::RANGE).unwrap_or(u32::MAX);
    // `live_bytes < L` holds for a multiple of 4 KiB exactly when `live_units < ceil(L / 4 KiB)`.
    let buddy_band = (
        (HEAP / 100 * 40).div_ceil(CHUNK),
        (HEAP / 100 * 50).div_ceil(CHUNK),
    );
    let mm_band = (mm::RANGE * 4 / 10, mm::RANGE / 2);
    match (recipe, c) {
        (Recipe::B1, Competitor::OffsetAllocator) => {
            // One node per unit plus the free remainder.
            let mut a = Allocator::<u32>::with_max_allocs(units, units + 2);
            let (alloc, free) = b1(&mut a);
            vec![alloc, free]
        }
        (Recipe::Single(w), _) if fits(w, c) => {
            let (name, total, band, sizes): (_, _, _, fn(&mut XorShift64) -> u32) = match w {
                WorkloadId::Buddy(BuddyWorkload::B2) => ("B2", units, buddy_band, pow2_units),
                WorkloadId::Buddy(BuddyWorkload::B3) => ("B3", units, buddy_band, any_units),
                _ => ("M1", pages, mm_band, m1_pages),
            };
            let r = match c {
                Competitor::OffsetAllocator => churn(
                    name,
                    &mut Allocator::<u32>::with_max_allocs(total, 1 << 20),
                    band,
                    sizes,
                    CHURN_OPS,
                ),
                Competitor::RangeAlloc => churn(
                    name,
                    &mut RangeAllocator::new(0..total),
                    band,
                    sizes,
                    CHURN_OPS,
                ),
            };
            vec![r]
        }
        _ => Vec::new(),
    }
}

fn pow2_units(rng: &mut XorShift64) -> u32 {
    1 << rng.below(10)
}

fn any_units(rng: &mut XorShift64) -> u32 {
    // 1 + rnd_below(2048) < 2^32.
    u32::try_from(1 + rng.below(2048)).unwrap_or(u32::MAX)
}

fn m1_pages(rng: &mut XorShift64) -> u32 {
    u32::try_from(1 + rng.below(512)).unwrap_or(u32::MAX)
}

/// The common face of the two crates: allocate `n` contiguous units, free by handle.
trait Extents {
    type Handle;
    fn alloc(&mut self, n: u32) -> Option<Self::Handle>;
    fn free(&mut self, h: Self::Handle);
}

impl Extents for Allocator<u32> {
    type Handle = Allocation<u32>;
    fn alloc(&mut self, n: u32) -> Option<Self::Handle> {
        self.allocate(n)
    }
    fn free(&mut self, h: Self::Handle) {
        Allocator::free(self, h);
    }
}

impl Extents for RangeAllocator<u32> {
    type Handle = Range<u32>;
    fn alloc(&mut self, n: u32) -> Option<Self::Handle> {
        self.allocate_range(n).ok()
    }
    fn free(&mut self, h: Self::Handle) {
        self.free_range(h);
    }
}

/// The live-band churn of B2/B3/M1 (`ops` operations; the recipes use `CHURN_OPS`),
/// band in units.
fn churn<A: Extents>(
    name: &'static str,
    a: &mut A,
    (low, high): (u64, u64),
    size: fn(&mut XorShift64) -> u32,
    ops: u64,
) -> WorkloadResult {
    let mut rng = XorShift64::default();
    let mut live: Vec<(A::Handle, u32)> = Vec::new();
    let mut live_units = 0u64;
    let mut failures = 0u64;
    let t = Instant::now();
    for _ in 0..ops {
        let alloc = if live_units < low {
            true
        } else if live_units >= high {
            false
        } else {
            rng.next_u64() & 1 == 0
        };
        if alloc || live.is_empty() {
            let n = size(&mut rng);
            match a.alloc(n) {
                Some(h) => {
                    live_units += u64::from(n);
                    live.push((h, n));
                }
                None => failures += 1,
            }
        } else {
            let i = index_below(&mut rng, live.len());
            let (h, n) = live.swap_remove(i);
            a.free(h);
            live_units -= u64::from(n);
        }
    }
    let elapsed = t.elapsed();
    WorkloadResult {
        name,
        ops,
        failures,
        elapsed,
    }
}

/// `rnd_below(n)` as an index (`n` fits in u64 on every target we build for).
fn index_below(rng: &mut XorShift64, n: usize) -> usize {
    let i = rng.below(u64::try_from(n).unwrap_or(u64::MAX));
    usize::try_from(i).unwrap_or(0)
}

/// B1 on `offset-allocator`: one-unit allocations until failure (timed, the failing call
/// included), Fisher-Yates shuffle (untimed), frees in that order.
fn b1(a: &mut Allocator<u32>) -> (WorkloadResult, WorkloadResult) {
    let mut rng = XorShift64::default();
    let mut held: Vec<Allocation<u32>> = Vec::new();
    let mut ops = 0u64;
    let t = Instant::now();
    loop {
        ops += 1;
        match a.allocate(1) {
            Some(h) => held.push(h),
            None => break,
        }
    }
    let alloc_time = t.elapsed();
    for i in (1..held.len()).rev() {
        let j = index_below(&mut rng, i + 1);
        held.swap(i, j);
    }
    let n = held.len() as u64;
    let t = Instant::now();
    for h in held {
        a.free(h);
    }
    let free_time = t.elapsed();
    (
        WorkloadResult {
            name: "B1 alloc",
            ops,
            failures: 1,
            elapsed: alloc_time,
        },
        WorkloadResult {
            name: "B1 free",
            ops: n,
            failures: 0,
            elapsed: free_time,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_documented_table() {
        use Competitor::{OffsetAllocator as O, RangeAlloc as R};
        let fit = |id: &str, c| {
            let w = crate::bench::WorkloadId::parse(id).unwrap()[0];
            fits(w, c)
        };
        for id in ["B1alloc", "B1free", "B2", "B3", "M1"] {
            assert!(fit(id, O), "{id}");
        }
        for id in ["B2", "B3", "M1"] {
            assert!(fit(id, R), "{id}");
        }
        for id in ["B1alloc", "B1free"] {
            assert!(!fit(id, R), "{id}");
        }
        for id in [
            "B4", "B4hi", "B5", "B5t", "B6", "M2", "M3", "M4", "B4x1G", "M3x16",
        ] {
            assert!(!fit(id, O) && !fit(id, R), "{id}");
        }
        let m4 = crate::bench::WorkloadId::parse("M4").unwrap()[0];
        assert!(run(Recipe::Single(m4), O).is_empty());
        assert!(run(Recipe::B1, R).is_empty());
    }

    #[test]
    fn both_crates_see_the_same_request_stream() {
        // A small heap (64 MiB in 4 KiB units, band 40-50%) with B3 sizes: while no
        // request fails, the two allocators receive exactly the same calls, so their
        // live totals agree after every prefix; check the end and the failure counts.
        let units = 16_384u32;
        let band = (u64::from(units) * 4 / 10, u64::from(units) / 2);
        let mut o = Allocator::<u32>::with_max_allocs(units, 1 << 16);
        let mut r = RangeAllocator::new(0..units);
        let a = churn("B3", &mut o, band, any_units, 20_000);
        let b = churn("B3", &mut r, band, any_units, 20_000);
        assert_eq!((a.ops, b.ops), (20_000, 20_000));
        assert_eq!(a.failures, b.failures);
        let free_o = u64::from(o.storage_report().total_free_space);
        let free_r = u64::from(r.total_available());
        assert_eq!(free_o, free_r);
        assert!(free_o < u64::from(units), "something is live at the end");
    }

    #[test]
    fn offset_allocator_b1_matches_the_recipe_counts() {
        let r = run(Recipe::B1, Competitor::OffsetAllocator);
        assert_eq!(r.len(), 2);
        // 4 Mi successful one-unit allocations plus the failing call; then 4 Mi frees.
        assert_eq!(
            (r[0].name, r[0].ops, r[0].failures),
            ("B1 alloc", (1 << 22) + 1, 1)
        );
        assert_eq!(
            (r[1].name, r[1].ops, r[1].failures),
            ("B1 free", 1 << 22, 0)
        );
    }
}
