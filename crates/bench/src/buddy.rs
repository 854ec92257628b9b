//! Buddy allocator workloads B1-B6 of `BASELINE.md`, replicated exactly.
//!
//! All run on `BuddyAllocator::new(16 GiB, 4 KiB)` unless the workload says otherwise,
//! with the xorshift64 generator reset to [`SEED`](crate::rng::SEED) for every run.
//! Every allocator API call is one operation (B4's "100,000 ops alternating" counts the
//! allocation and the free separately; B5/B5t count the same way: 2 ops per cycle).
//! Only the phase the recipe times is inside the clock. Each timed phase is a function
//! of its own (`b1_fill`, `b1_free`, `churn`, `b4_timed`, `contiguous_cycles`), so
//! instruction counts can be bracketed the same way (`callgrind --zero-before=...`).

use std::cell::Cell;
use std::time::{Duration, Instant};

use pddgpu_buddy::{AllocFlags, Block, BuddyAllocator, Error, FreeFlags};

use crate::result::WorkloadResult;
use crate::rng::XorShift64;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The heap of B1-B6: 16 GiB.
pub const HEAP: u64 = 16 * GIB;
/// The chunk size of every workload: 4 KiB.
pub const CHUNK: u64 = 4 * KIB;
/// Operations of the churn workloads (B2, B3, B6).
pub const CHURN_OPS: u64 = 1_000_000;
/// Operations of the range-restricted phase of B4.
pub const B4_OPS: u64 = 100_000;
/// Cycles of B5/B5t.
pub const B5_CYCLES: u64 = 1_000;
/// The window of B4: 256 MiB.
pub const B4_WINDOW: u64 = 256 * MIB;

thread_local! {
    /// Thread CPU time of the last timed phase, and of B1's two phases.
    static PHASE_CPU: Cell<Option<Duration>> = const { Cell::new(None) };
    static B1_CPU: Cell<(Option<Duration>, Option<Duration>)> = const { Cell::new((None, None)) };
}

/// CPU time consumed so far by the calling thread, if the kernel exposes it
/// (`/proc/thread-self/schedstat`).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Wall clock and thread CPU clock around one timed phase.
struct Clock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    fn start() -> Self {
        let cpu = thread_cpu();
        Self {
            wall: Instant::now(),
            cpu,
        }
    }

    /// Wall time of the phase; its CPU time is kept for [`run_with_cpu`].
    fn stop(self) -> Duration {
        let wall = self.wall.elapsed();
        let cpu = self.cpu.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a));
        PHASE_CPU.with(|c| c.set(cpu));
        wall
    }
}

/// As [`run`], also returning the CPU time the thread spent in the timed phase (on a
/// shared, loaded machine the fairer figure: wall time also counts the time other tasks
/// held the CPU). `None` where the kernel does not expose it or the phase is too short
/// for its resolution (the counter advances at scheduler events; below 20 ms it is not
/// trusted).
#[must_use]
pub fn run_with_cpu(w: BuddyWorkload) -> (WorkloadResult, Option<Duration>) {
    let r = run(w);
    let cpu = match w {
        BuddyWorkload::B1Alloc => B1_CPU.with(Cell::get).0,
        BuddyWorkload::B1Free => B1_CPU.with(Cell::get).1,
        _ => PHASE_CPU.with(Cell::get),
    };
    (r, cpu.filter(|c| *c >= Duration::from_millis(20)))
}

/// One of the buddy allocator workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuddyWorkload {
    /// Fill 16 GiB with 4 KiB blocks until `NoSpace`; the allocation phase.
    B1Alloc,
    /// B1's second phase: free every block in a shuffled order.
    B1Free,
    /// Churn, power-of-two 4 KiB..2 MiB (min = size), live band 40-50%, 1M ops.
    B2,
    /// As B2 with any 4 KiB multiple in [4 KiB, 8 MiB], min 4 KiB.
    B3,
    /// Range-restricted 4 KiB..256 KiB in `[0, 256 MiB)` on a 70%-filled, half-freed
    /// heap (100,000 ops).
    B4,
    /// As B4 with the window at the top 256 MiB, inside the fragmented part.
    B4Hi,
    /// B4 on a 1 GiB heap (flatness: compare with B4 and B4x64G).
    B4Heap1G,
    /// B4 on a 64 GiB heap.
    B4Heap64G,
    /// 64 MiB CONTIGUOUS + free on the B4 heap, 1,000 cycles.
    B5,
    /// 48 MiB CONTIGUOUS + free on a heap with 1 MiB taken at 64 MiB·k + 32 MiB: only
    /// try-harder can serve it. 1,000 cycles.
    B5t,
    /// B2 with TOPDOWN.
    B6,
}

impl BuddyWorkload {
    /// Every workload, in table order.
    pub const ALL: [Self; 11] = [
        Self::B1Alloc,
        Self::B1Free,
        Self::B2,
        Self::B3,
        Self::B4,
        Self::B4Hi,
        Self::B4Heap1G,
        Self::B4Heap64G,
        Self::B5,
        Self::B5t,
        Self::B6,
    ];

    /// The id as printed in tables.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::B1Alloc => "B1 alloc",
            Self::B1Free => "B1 free",
            Self::B2 => "B2",
            Self::B3 => "B3",
            Self::B4 => "B4",
            Self::B4Hi => "B4hi",
            Self::B4Heap1G => "B4 (1 GiB heap)",
            Self::B4Heap64G => "B4 (64 GiB heap)",
            Self::B5 => "B5",
            Self::B5t => "B5t",
            Self::B6 => "B6",
        }
    }

    /// Timed operations of one run (known in advance; `run` reports the same).
    #[must_use]
    pub fn ops(self) -> u64 {
        match self {
            Self::B1Alloc => HEAP / CHUNK + 1,
            Self::B1Free => HEAP / CHUNK,
            Self::B2 | Self::B3 | Self::B6 => CHURN_OPS,
            Self::B4 | Self::B4Hi | Self::B4Heap1G | Self::B4Heap64G => B4_OPS,
            Self::B5 | Self::B5t => 2 * B5_CYCLES,
        }
    }

    /// The Linux C median in ns/op from `BASELINE.md` (the heap-size variants of B4
    /// compare with B4).
    #[must_use]
    pub fn linux_ns_per_op(self) -> Option<f64> {
        match self {
            Self::B1Alloc => Some(49.5),
            Self::B1Free => Some(3304.0),
            Self::B2 => Some(151.8),
            Self::B3 => Some(402.5),
            Self::B4 => Some(570.9),
            Self::B4Hi => Some(288.7),
            Self::B4Heap1G | Self::B4Heap64G => None,
            Self::B5 => Some(82.6),
            Self::B5t => Some(227.5),
            Self::B6 => Some(299.5),
        }
    }
}

/// Runs one repetition of `w` on a fresh allocator.
///
/// # Panics
/// If the allocator breaks the workload's expectations (an `InvalidArgument`, an
/// allocation the recipe says always succeeds failing, or `check()` failing at the end).
#[must_use]
pub fn run(w: BuddyWorkload) -> WorkloadResult {
    match w {
        BuddyWorkload::B1Alloc => b1().0,
        BuddyWorkload::B1Free => b1().1,
        BuddyWorkload::B2 => churn("B2", Churn::Pow2, AllocFlags::empty()),
        BuddyWorkload::B3 => churn("B3", Churn::Any, AllocFlags::empty()),
        BuddyWorkload::B4 => b4("B4", HEAP, 0),
        BuddyWorkload::B4Hi => b4("B4hi", HEAP, HEAP - B4_WINDOW),
        BuddyWorkload::B4Heap1G => b4("B4 (1 GiB heap)", GIB, 0),
        BuddyWorkload::B4Heap64G => b4("B4 (64 GiB heap)", 64 * GIB, 0),
        BuddyWorkload::B5 => b5(),
        BuddyWorkload::B5t => b5t(),
        BuddyWorkload::B6 => churn("B6", Churn::Pow2, AllocFlags::TOPDOWN),
    }
}

fn heap(size: u64) -> BuddyAllocator {
    BuddyAllocator::new(size, CHUNK).expect("valid geometry")
}

fn finish(mm: &BuddyAllocator) {
    mm.check().expect("allocator invariants after the workload");
}

/// B1: fill with 4 KiB blocks until `NoSpace` (the failing call is timed), shuffle
/// (Fisher-Yates, untimed), free in that order. Returns (alloc phase, free phase).
#[must_use]
pub fn b1() -> (WorkloadResult, WorkloadResult) {
    let mut rng = XorShift64::default();
    let mut mm = heap(HEAP);
    let mut blocks: Vec<Block> = Vec::with_capacity((HEAP / CHUNK) as usize + 1);
    let t = Clock::start();
    let ops = b1_fill(&mut mm, &mut blocks);
    let alloc_time = t.stop();
    let alloc_cpu = PHASE_CPU.with(Cell::get);
    let n = blocks.len();
    let mut order: Vec<Option<Block>> = blocks.into_iter().map(Some).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let t = Clock::start();
    b1_free(&mut mm, &mut order);
    let free_time = t.stop();
    B1_CPU.with(|c| c.set((alloc_cpu, PHASE_CPU.with(Cell::get))));
    finish(&mm);
    assert_eq!(mm.avail(), HEAP);
    (
        WorkloadResult {
            name: "B1 alloc",
            ops,
            failures: 1,
            elapsed: alloc_time,
        },
        WorkloadResult {
            name: "B1 free",
            ops: n as u64,
            failures: 0,
            elapsed: free_time,
        },
    )
}

/// B1's timed allocation phase (a function of its own so that instruction counters
/// can be bracketed around it: `valgrind --tool=callgrind --zero-before=...`).
#[inline(never)]
fn b1_fill(mm: &mut BuddyAllocator, blocks: &mut Vec<Block>) -> u64 {
    let mut ops = 0u64;
    loop {
        ops += 1;
        match mm.alloc_blocks_into(0, HEAP, CHUNK, CHUNK, AllocFlags::empty(), blocks) {
            Ok(()) => {}
            Err(Error::NoSpace) => return ops,
            Err(e) => panic!("B1: unexpected {e:?}"),
        }
    }
}

/// B1's timed free phase.
#[inline(never)]
fn b1_free(mm: &mut BuddyAllocator, order: &mut [Option<Block>]) {
    for b in order {
        if let Some(b) = b.take() {
            mm.free_block(b, FreeFlags::empty()).expect("B1: free");
        }
    }
}

#[derive(Clone, Copy)]
enum Churn {
    /// `size = 4096 << rnd_below(10)`, `min = size`.
    Pow2,
    /// `size = (1 + rnd_below(2048)) * 4096`, `min = 4096`.
    Any,
}

/// B2/B3/B6: 1M operations under the 40-50% live-band policy.
#[inline(never)]
fn churn(name: &'static str, sizes: Churn, flags: AllocFlags) -> WorkloadResult {
    let mut rng = XorShift64::default();
    let mut mm = heap(HEAP);
    let (low, high) = (HEAP / 100 * 40, HEAP / 100 * 50);
    let mut live: Vec<(Vec<Block>, u64)> = Vec::new();
    let mut spare: Vec<Vec<Block>> = Vec::new();
    let mut live_bytes = 0u64;
    let mut failures = 0u64;
    let t = Clock::start();
    for _ in 0..CHURN_OPS {
        let alloc = if live_bytes < low {
            true
        } else if live_bytes >= high {
            false
        } else {
            rng.next_u64() & 1 == 0
        };
        if alloc || live.is_empty() {
            let (size, min) = match sizes {
                Churn::Pow2 => {
                    let s = CHUNK << rng.below(10);
                    (s, s)
                }
                Churn::Any => ((1 + rng.below(2048)) * CHUNK, CHUNK),
            };
            let mut blocks = spare.pop().unwrap_or_default();
            match mm.alloc_blocks_into(0, HEAP, size, min, flags, &mut blocks) {
                Ok(()) => {
                    live_bytes += size;
                    live.push((blocks, size));
                }
                Err(Error::NoSpace) => {
                    failures += 1;
                    spare.push(blocks);
                }
                Err(e) => panic!("{name}: unexpected {e:?}"),
            }
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let (mut blocks, size) = live.swap_remove(i);
            mm.free_list(&mut blocks, FreeFlags::empty()).expect("free");
            live_bytes -= size;
            spare.push(blocks);
        }
    }
    let elapsed = t.stop();
    finish(&mm);
    WorkloadResult {
        name,
        ops: CHURN_OPS,
        failures,
        elapsed,
    }
}

/// B4's heap: pre-fill while live < 70% with `64 KiB << rnd_below(6)` (min = size),
/// then free `n / 2` random ones.
fn b4_heap(rng: &mut XorShift64, size: u64) -> (BuddyAllocator, Vec<Block>) {
    let mut mm = heap(size);
    let mut live: Vec<Block> = Vec::new();
    let mut live_bytes = 0u64;
    while live_bytes < size / 100 * 70 {
        let s = (64 * KIB) << rng.below(6);
        mm.alloc_blocks_into(0, size, s, s, AllocFlags::empty(), &mut live)
            .expect("B4 pre-fill");
        live_bytes += s;
    }
    for _ in 0..live.len() / 2 {
        let i = rng.below(live.len() as u64) as usize;
        let b = live.swap_remove(i);
        mm.free_block(b, FreeFlags::empty()).expect("free");
    }
    (mm, live)
}

/// B4/B4hi: 100,000 operations alternating a range-restricted allocation of
/// `4096 << rnd_below(7)` (min = size) in `[lo, lo + 256 MiB)` and its free.
fn b4(name: &'static str, size: u64, lo: u64) -> WorkloadResult {
    let mut rng = XorShift64::default();
    let (mut mm, _live) = b4_heap(&mut rng, size);
    let t = Clock::start();
    let failures = b4_timed(&mut mm, &mut rng, lo, name);
    let elapsed = t.stop();
    finish(&mm);
    WorkloadResult {
        name,
        ops: B4_OPS,
        failures,
        elapsed,
    }
}

/// B4's timed phase: returns the number of failed allocations.
#[inline(never)]
fn b4_timed(mm: &mut BuddyAllocator, rng: &mut XorShift64, lo: u64, name: &str) -> u64 {
    let mut blocks = Vec::with_capacity(4);
    let mut failures = 0u64;
    for op in 0..B4_OPS {
        if op % 2 == 0 {
            let s = CHUNK << rng.below(7);
            match mm.alloc_blocks_into(lo, lo + B4_WINDOW, s, s, AllocFlags::RANGE, &mut blocks) {
                Ok(()) => {}
                Err(Error::NoSpace) => failures += 1,
                Err(e) => panic!("{name}: unexpected {e:?}"),
            }
        } else {
            mm.free_list(&mut blocks, FreeFlags::empty()).expect("free");
        }
    }
    failures
}

/// 1,000 cycles of {`size` CONTIGUOUS (min 4 KiB); free} on `mm`.
#[inline(never)]
fn contiguous_cycles(name: &'static str, mm: &mut BuddyAllocator, size: u64) -> WorkloadResult {
    let mut blocks = Vec::with_capacity(8);
    let t = Clock::start();
    for _ in 0..B5_CYCLES {
        mm.alloc_blocks_into(0, HEAP, size, CHUNK, AllocFlags::CONTIGUOUS, &mut blocks)
            .unwrap_or_else(|e| panic!("{name}: every allocation succeeds, got {e:?}"));
        mm.free_list(&mut blocks, FreeFlags::empty()).expect("free");
    }
    let elapsed = t.stop();
    finish(mm);
    WorkloadResult {
        name,
        ops: 2 * B5_CYCLES,
        failures: 0,
        elapsed,
    }
}

/// B5: 64 MiB CONTIGUOUS + free on B4's heap.
fn b5() -> WorkloadResult {
    let mut rng = XorShift64::default();
    let (mut mm, _live) = b4_heap(&mut rng, HEAP);
    contiguous_cycles("B5", &mut mm, 64 * MIB)
}

/// B5t: 48 MiB CONTIGUOUS + free with 1 MiB taken at `64 MiB·k + 32 MiB` for every k.
fn b5t() -> WorkloadResult {
    let mut mm = heap(HEAP);
    let mut taken = Vec::new();
    for k in 0..HEAP / (64 * MIB) {
        let at = 64 * MIB * k + 32 * MIB;
        mm.alloc_blocks_into(at, at + MIB, MIB, CHUNK, AllocFlags::empty(), &mut taken)
            .expect("B5t: exact-range reservation");
    }
    contiguous_cycles("B5t", &mut mm, 48 * MIB)
}

/// Sum of the elapsed times of `n` runs (for criterion's `iter_custom`).
#[must_use]
pub fn time_runs(w: BuddyWorkload, n: u64) -> Duration {
    (0..n).map(|_| run(w).elapsed).sum()
}
