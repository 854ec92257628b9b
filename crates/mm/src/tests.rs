//! Unit tests of the range allocator: exact placements per mode, alignment corners,
//! the reserve boundary table, removal and hole recency, the scan protocol and its
//! misuse, colour separation, metadata exhaustion, print and leak reports.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::mm::LAZY_AFTER as LAZY_UPDATES;
use crate::{ColorAdjust, Error, InsertMode, Mm, Node, NodeInfo};

const ALL_MODES: [InsertMode; 6] = [
    InsertMode::Best,
    InsertMode::Low,
    InsertMode::High,
    InsertMode::Evict,
    InsertMode::Lowest,
    InsertMode::Highest,
];

fn holes(mm: &Mm) -> Vec<(u64, u64)> {
    mm.holes().collect()
}

fn printed(mm: &Mm) -> String {
    let mut s = String::new();
    mm.print(&mut s).unwrap();
    s
}

fn release(mm: &mut Mm, nodes: Vec<Node>) {
    for n in nodes {
        mm.remove(n).unwrap();
        mm.check().unwrap();
    }
}

/// A must-fail insert: reports an unexpected success and a wrong error separately.
#[track_caller]
fn expect_insert_fail(mm: &mut Mm, want: Error, args: (u64, u64, u64, u64, u64, InsertMode)) {
    let before = printed(mm);
    match mm.insert_in_range(args.0, args.1, args.2, args.3, args.4, args.5) {
        Ok(n) => panic!("insert {args:?} unexpectedly succeeded at {}", n.start()),
        Err(e) => assert_eq!(e, want, "insert {args:?} failed with the wrong error"),
    }
    assert_eq!(printed(mm), before, "failed insert changed the allocator");
    mm.check().unwrap();
}

// --- creation and errors ----------------------------------------------------------------

#[test]
fn new_rejects_empty_and_wrapping_ranges() {
    assert_eq!(Mm::new(0, 0).unwrap_err(), Error::InvalidArgument);
    assert_eq!(Mm::new(u64::MAX, 1).unwrap_err(), Error::InvalidArgument);
    assert_eq!(
        Mm::new(2, u64::MAX - 1).unwrap_err(),
        Error::InvalidArgument
    );
    let mm = Mm::new(0, u64::MAX).unwrap();
    assert_eq!(holes(&mm), [(0, u64::MAX)]);
    mm.check().unwrap();
    let mm = Mm::new(1, u64::MAX - 2).unwrap();
    assert_eq!(holes(&mm), [(1, u64::MAX - 1)]);
    assert_eq!(
        (mm.start(), mm.end(), mm.size()),
        (1, u64::MAX - 1, u64::MAX - 2)
    );
}

#[test]
fn insert_rejects_bad_requests() {
    let mut mm = Mm::new(0, 100).unwrap();
    for mode in ALL_MODES {
        expect_insert_fail(&mut mm, Error::NoSpace, (0, 0, 0, 0, 100, mode));
        expect_insert_fail(&mut mm, Error::InvalidArgument, (1, 0, 0, 50, 49, mode));
        expect_insert_fail(&mut mm, Error::NoSpace, (1, 0, 0, 50, 50, mode));
        expect_insert_fail(&mut mm, Error::NoSpace, (11, 0, 0, 50, 60, mode));
        expect_insert_fail(&mut mm, Error::NoSpace, (101, 0, 0, 0, 200, mode));
        expect_insert_fail(&mut mm, Error::NoSpace, (10, 0, 0, 100, 200, mode));
        expect_insert_fail(&mut mm, Error::NoSpace, (10, 0, 0, 0, 9, mode));
    }
    assert_eq!(Error::InvalidArgument.errno(), 22);
    assert_eq!(Error::NoSpace.errno(), 28);
    assert_eq!(Error::Busy.errno(), 16);
    assert_eq!(Error::OutOfMemory.errno(), 12);
}

// --- exact placements ----------------------------------------------------------------------

#[test]
fn issue_example_low_and_high() {
    // [0, 7) with [1, 2) and [5, 6) reserved: holes [0,1), [2,5), [6,7).
    let mut mm = Mm::new(0, 7).unwrap();
    let fixed = vec![mm.reserve(1, 1, 0).unwrap(), mm.reserve(5, 1, 0).unwrap()];
    assert_eq!(holes(&mm), [(0, 1), (2, 5), (6, 7)]);
    let want = [
        (InsertMode::Best, 2),
        (InsertMode::Low, 2),
        (InsertMode::High, 3),
        (InsertMode::Evict, 2),
        (InsertMode::Lowest, 2),
        (InsertMode::Highest, 3),
    ];
    for (mode, start) in want {
        let n = mm.insert_in_range(2, 0, 0, 0, 7, mode).unwrap();
        assert_eq!((n.start(), n.end()), (start, start + 2), "{mode:?}");
        mm.check().unwrap();
        mm.remove(n).unwrap();
        assert_eq!(holes(&mm), [(0, 1), (2, 5), (6, 7)]);
    }
    release(&mut mm, fixed);
    assert!(mm.is_clean());
}

/// Holes [0,10) [20,30) [60,70) [75,90) created in that order (the last one most recent).
fn four_holes() -> (Mm, Vec<Node>) {
    let mut mm = Mm::new(0, 100).unwrap();
    let fixed = vec![
        mm.reserve(10, 10, 0).unwrap(),
        mm.reserve(30, 30, 0).unwrap(),
        mm.reserve(70, 5, 0).unwrap(),
        mm.reserve(90, 10, 0).unwrap(),
    ];
    assert_eq!(holes(&mm), [(0, 10), (20, 30), (60, 70), (75, 90)]);
    let recency: Vec<_> = mm.holes_by_recency().collect();
    assert_eq!(recency, [(75, 90), (60, 70), (20, 30), (0, 10)]);
    assert_eq!(mm.largest_hole(), Some((75, 90)));
    mm.check().unwrap();
    (mm, fixed)
}

#[test]
fn every_mode_over_the_same_layouts() {
    // (size, alignment, range, [Best, Low, High, Evict, Lowest, Highest]); None = NoSpace.
    type Case = (u64, u64, (u64, u64), [Option<u64>; 6]);
    let cases: [Case; 8] = [
        // Best: the most recent of the three 10-unit holes.
        (
            5,
            0,
            (0, 100),
            [Some(60), Some(0), Some(85), Some(75), Some(0), Some(85)],
        ),
        (
            12,
            0,
            (0, 100),
            [Some(75), Some(75), Some(78), Some(75), Some(75), Some(78)],
        ),
        (
            5,
            0,
            (15, 65),
            [Some(60), Some(20), Some(60), Some(60), Some(20), Some(60)],
        ),
        // Restricted Best with alignment: [60,65) is too short, [20,30) takes it.
        (
            8,
            4,
            (15, 65),
            [Some(20), Some(20), Some(20), Some(20), Some(20), None],
        ),
        // Lowest examines only the hole at 8 ([8,10) after the clamp).
        (
            5,
            0,
            (8, 100),
            [Some(60), Some(20), Some(85), Some(75), None, Some(85)],
        ),
        (
            5,
            0,
            (0, 88),
            [Some(60), Some(0), Some(83), Some(75), Some(0), Some(83)],
        ),
        // Highest examines only [75,80): too small.
        (
            8,
            0,
            (0, 80),
            [Some(60), Some(0), Some(62), Some(60), Some(0), None],
        ),
        (16, 0, (0, 100), [None, None, None, None, None, None]),
    ];
    for (size, align, (rs, re), want) in cases {
        for (mode, want) in ALL_MODES.into_iter().zip(want) {
            let (mut mm, fixed) = four_holes();
            match want {
                Some(start) => {
                    let n = mm
                        .insert_in_range(size, align, 0, rs, re, mode)
                        .unwrap_or_else(|e| {
                            panic!("{mode:?} size {size} align {align} [{rs},{re}): {e:?}")
                        });
                    assert_eq!(
                        n.start(),
                        start,
                        "{mode:?} size {size} align {align} [{rs},{re})"
                    );
                    mm.check().unwrap();
                    mm.remove(n).unwrap();
                }
                None => expect_insert_fail(&mut mm, Error::NoSpace, (size, align, 0, rs, re, mode)),
            }
            release(&mut mm, fixed);
        }
    }
}

#[test]
fn insert_splits_holes_and_the_upper_rest_is_most_recent() {
    let mut mm = Mm::new(0, 100).unwrap();
    let a = mm
        .insert_in_range(10, 0, 0, 40, 100, InsertMode::Low)
        .unwrap();
    assert_eq!(a.start(), 40);
    assert_eq!(holes(&mm), [(0, 40), (50, 100)]);
    assert_eq!(
        mm.holes_by_recency().collect::<Vec<_>>(),
        [(50, 100), (0, 40)]
    );
    // Evict takes the most recent hole even though a lower one fits.
    let b = mm.insert(5, 0, 0, InsertMode::Evict).unwrap();
    assert_eq!(b.start(), 50);
    mm.check().unwrap();
    release(&mut mm, vec![a, b]);
    assert_eq!(holes(&mm), [(0, 100)]);
}

#[test]
fn remove_merges_and_the_merged_hole_is_most_recent() {
    let (mut mm, mut fixed) = four_holes();
    // Free [30, 60): holes [20,30) + node + [60,70) merge into [20,70).
    let n = fixed.remove(1);
    mm.remove(n).unwrap();
    mm.check().unwrap();
    assert_eq!(holes(&mm), [(0, 10), (20, 70), (75, 90)]);
    assert_eq!(mm.holes_by_recency().next(), Some((20, 70)));
    assert_eq!(mm.largest_hole(), Some((20, 70)));
    let e = mm.insert(5, 0, 0, InsertMode::Evict).unwrap();
    assert_eq!(e.start(), 20);
    // Freeing the node at the bottom merges into the head's hole.
    let first = fixed.remove(0);
    mm.remove(first).unwrap();
    mm.check().unwrap();
    assert_eq!(holes(&mm), [(0, 20), (25, 70), (75, 90)]);
    assert_eq!(mm.holes_by_recency().next(), Some((0, 20)));
    fixed.push(e);
    release(&mut mm, fixed);
    assert_eq!(holes(&mm), [(0, 100)]);
    assert_eq!((mm.used(), mm.free()), (0, 100));
}

#[test]
fn best_ties_go_to_the_most_recent_hole() {
    let mut mm = Mm::new(0, 50).unwrap();
    // Holes of 5 at [5,10), [15,20), [25,30) created in address order, then [35,50).
    let fixed: Vec<_> = [0, 10, 20, 30]
        .iter()
        .map(|&s| mm.reserve(s, 5, 0).unwrap())
        .collect();
    assert_eq!(holes(&mm), [(5, 10), (15, 20), (25, 30), (35, 50)]);
    let n = mm.insert(5, 0, 0, InsertMode::Best).unwrap();
    // The hole at 25 was split off last among the 5-unit holes... then [35,50) was
    // created by the reserve at 30, after [25,30): the newest 5-unit hole is [25,30).
    assert_eq!(n.start(), 25);
    let m = mm.insert(5, 0, 0, InsertMode::Best).unwrap();
    assert_eq!(m.start(), 15);
    mm.check().unwrap();
    release(&mut mm, fixed);
    release(&mut mm, vec![n, m]);
}

#[test]
fn best_ties_in_both_size_indexes() {
    // Equal holes of a small (bucketed) and a large (treap) size, created in address
    // order; Best takes the newest first, then the next newest.
    for hole in [100u64, 5000] {
        let mut mm = Mm::new(0, 4 * (hole + 1)).unwrap();
        let fixed: Vec<Node> = (0..4)
            .map(|k| mm.reserve(k * (hole + 1), 1, 0).unwrap())
            .collect();
        let starts: Vec<u64> = (0..4).map(|k| k * (hole + 1) + 1).collect();
        assert_eq!(holes(&mm).len(), 4);
        let mut got = Vec::new();
        let mut taken = Vec::new();
        for _ in 0..4 {
            let n = mm.insert(hole, 0, 0, InsertMode::Best).unwrap();
            got.push(n.start());
            taken.push(n);
            mm.check().unwrap();
        }
        assert_eq!(
            got,
            [starts[3], starts[2], starts[1], starts[0]],
            "hole size {hole}"
        );
        // Freed again in address order, the holes are newest at the top; restricted to
        // the two lowest holes, the newer of them wins.
        taken.reverse();
        release(&mut mm, taken);
        let n = mm
            .insert_in_range(hole, 0, 0, 0, 2 * (hole + 1), InsertMode::Best)
            .unwrap();
        assert_eq!(n.start(), starts[1], "hole size {hole}");
        release(&mut mm, vec![n]);
        release(&mut mm, fixed);
    }
}

// --- alignment ----------------------------------------------------------------------------

#[test]
fn alignment_of_2_pow_63_in_a_64_bit_range() {
    for mode in ALL_MODES {
        let mut mm = Mm::new(1, u64::MAX - 2).unwrap();
        let n = mm.insert(1, 1 << 63, 0, mode).unwrap();
        assert_eq!(n.start(), 1 << 63, "{mode:?}");
        mm.check().unwrap();
        // The only other 2^63-aligned address, 0, is outside the range.
        expect_insert_fail(&mut mm, Error::NoSpace, (1, 1 << 63, 0, 0, u64::MAX, mode));
        if mode == InsertMode::Highest {
            // Only the top hole [2^63 + 1, 2^64 - 1) is examined, and it has no room.
            expect_insert_fail(
                &mut mm,
                Error::NoSpace,
                (1 << 62, 1 << 62, 0, 0, u64::MAX, mode),
            );
            release(&mut mm, vec![n]);
            continue;
        }
        let big = mm.insert(1 << 62, 1 << 62, 0, mode).unwrap();
        // High: [2^63 + 1, 2^64 - 1) has no 2^62-aligned room below its top, so the
        // lower hole [1, 2^63) serves every mode at 2^62.
        assert_eq!(big.start(), 1 << 62, "{mode:?}");
        mm.check().unwrap();
        release(&mut mm, vec![n, big]);
    }
}

#[test]
fn alignment_is_absolute_and_any_value() {
    let mut mm = Mm::new(3, 1000).unwrap(); // [3, 1003)
    let low = mm.insert(10, 7, 0, InsertMode::Low).unwrap();
    assert_eq!(low.start(), 7); // 3 rounded up to 7
    let high = mm.insert(10, 7, 0, InsertMode::High).unwrap();
    assert_eq!(high.start(), 987); // 993 rounded down to a multiple of 7
    let pow2 = mm.insert(4, 64, 0, InsertMode::Low).unwrap();
    assert_eq!(pow2.start(), 64);
    // 0 and 1 mean no alignment.
    let a0 = mm.insert(1, 0, 0, InsertMode::Low).unwrap();
    let a1 = mm.insert(1, 1, 0, InsertMode::Low).unwrap();
    assert_eq!((a0.start(), a1.start()), (3, 4));
    // A non-power-of-two alignment whose round-up overflows u64.
    expect_insert_fail(
        &mut mm,
        Error::NoSpace,
        (1, u64::MAX, 0, 0, u64::MAX, InsertMode::Low),
    );
    expect_insert_fail(
        &mut mm,
        Error::NoSpace,
        (1, u64::MAX, 0, 0, u64::MAX, InsertMode::High),
    );
    let odd = mm.insert(1, 999, 0, InsertMode::Best).unwrap();
    assert_eq!(odd.start(), 999);
    mm.check().unwrap();
    release(&mut mm, vec![low, high, pow2, a0, a1, odd]);
}

// --- reserve --------------------------------------------------------------------------------

#[test]
fn reserve_boundaries() {
    const SIZE: u64 = 4096;
    const COUNT: u64 = 16;
    let neg = |x: u64| x.wrapping_neg();
    let table: [(u64, u64); 17] = [
        (0, 0),
        (neg(SIZE), 0),
        (SIZE, 0),
        (SIZE * COUNT, 0),
        (neg(SIZE), SIZE),
        (neg(SIZE), neg(SIZE)),
        (neg(SIZE), 2 * SIZE),
        (0, neg(SIZE)),
        (SIZE, neg(SIZE)),
        (COUNT * SIZE, SIZE),
        (COUNT * SIZE, neg(SIZE)),
        (COUNT * SIZE, COUNT * SIZE),
        (COUNT * SIZE, neg(COUNT * SIZE)),
        (COUNT * SIZE, neg((COUNT + 1) * SIZE)),
        ((COUNT + 1) * SIZE, SIZE),
        ((COUNT + 1) * SIZE, neg(SIZE)),
        ((COUNT + 1) * SIZE, neg(2 * SIZE)),
    ];
    let mut mm = Mm::new(0, COUNT * SIZE).unwrap();
    for (start, size) in table {
        match mm.reserve(start, size, 0) {
            Ok(n) => panic!(
                "reserve {{{start:#x}, {size:#x}}} succeeded at {}",
                n.start()
            ),
            Err(e) => assert_eq!(e, Error::NoSpace, "reserve {{{start:#x}, {size:#x}}}"),
        }
        assert_eq!(holes(&mm), [(0, COUNT * SIZE)]);
        mm.check().unwrap();
    }
    // The extremes that are inside.
    let all = mm.reserve(0, COUNT * SIZE, 0).unwrap();
    assert_eq!(mm.largest_hole(), None);
    assert_eq!(mm.reserve(0, 1, 0).unwrap_err(), Error::NoSpace);
    mm.remove(all).unwrap();
    let last = mm.reserve((COUNT - 1) * SIZE, SIZE, 0).unwrap();
    // Overlapping an allocated node, and re-reserving the same span.
    assert_eq!(
        mm.reserve((COUNT - 1) * SIZE, SIZE, 0).unwrap_err(),
        Error::NoSpace
    );
    assert_eq!(
        mm.reserve((COUNT - 2) * SIZE, SIZE + 1, 0).unwrap_err(),
        Error::NoSpace
    );
    assert_eq!(
        mm.reserve(COUNT * SIZE - 1, 1, 0).unwrap_err(),
        Error::NoSpace
    );
    let below = mm.reserve((COUNT - 2) * SIZE, SIZE, 0).unwrap();
    mm.check().unwrap();
    release(&mut mm, vec![last, below]);
}

#[test]
fn reserve_in_a_range_not_starting_at_zero() {
    let mut mm = Mm::new(100, 50).unwrap();
    assert_eq!(mm.reserve(99, 2, 0).unwrap_err(), Error::NoSpace);
    assert_eq!(mm.reserve(149, 2, 0).unwrap_err(), Error::NoSpace);
    assert_eq!(mm.reserve(0, 1, 0).unwrap_err(), Error::NoSpace);
    let a = mm.reserve(100, 1, 0).unwrap();
    let b = mm.reserve(149, 1, 0).unwrap();
    assert_eq!(holes(&mm), [(101, 149)]);
    mm.check().unwrap();
    release(&mut mm, vec![a, b]);
}

// --- iteration, print, fini ----------------------------------------------------------------

#[test]
fn print_matches_the_kernel_format() {
    // The drm_test_mm_debug layout.
    let mut mm = Mm::new(0, 4096).unwrap();
    let a = mm.reserve(512, 1024, 0).unwrap();
    let b = mm.reserve(2560, 1024, 0).unwrap();
    assert_eq!(
        printed(&mm),
        "0x0000000000000000-0x0000000000000200: 512: free\n\
         0x0000000000000200-0x0000000000000600: 1024: used\n\
         0x0000000000000600-0x0000000000000a00: 1024: free\n\
         0x0000000000000a00-0x0000000000000e00: 1024: used\n\
         0x0000000000000e00-0x0000000000001000: 512: free\n\
         total: 4096, used 2048 free 2048\n"
    );
    // Zero-size holes are not printed.
    let c = mm.reserve(0, 512, 0).unwrap();
    let d = mm.reserve(3584, 512, 0).unwrap();
    assert_eq!(
        printed(&mm),
        "0x0000000000000000-0x0000000000000200: 512: used\n\
         0x0000000000000200-0x0000000000000600: 1024: used\n\
         0x0000000000000600-0x0000000000000a00: 1024: free\n\
         0x0000000000000a00-0x0000000000000e00: 1024: used\n\
         0x0000000000000e00-0x0000000000001000: 512: used\n\
         total: 4096, used 3072 free 1024\n"
    );
    release(&mut mm, vec![a, b, c, d]);
    assert_eq!(
        printed(&mm),
        "0x0000000000000000-0x0000000000001000: 4096: free\ntotal: 4096, used 0 free 4096\n"
    );
}

#[test]
fn iteration_in_address_and_range_order() {
    let (mut mm, fixed) = four_holes();
    let starts: Vec<u64> = mm.nodes().map(|n| n.start).collect();
    assert_eq!(starts, [10, 30, 70, 90]);
    let range = |mm: &Mm, s, e| mm.nodes_in_range(s, e).map(|n| n.start).collect::<Vec<_>>();
    assert_eq!(range(&mm, 0, 100), [10, 30, 70, 90]);
    assert_eq!(range(&mm, 0, 10), Vec::<u64>::new());
    assert_eq!(range(&mm, 0, 11), [10]);
    assert_eq!(range(&mm, 19, 31), [10, 30]);
    assert_eq!(range(&mm, 20, 30), Vec::<u64>::new());
    assert_eq!(range(&mm, 59, 200), [30, 70, 90]);
    assert_eq!(range(&mm, 99, u64::MAX), [90]);
    assert_eq!(range(&mm, 100, u64::MAX), Vec::<u64>::new());
    assert_eq!(range(&mm, 50, 40), Vec::<u64>::new());
    assert_eq!(mm.n_nodes(), 4);
    assert_eq!((mm.used(), mm.free()), (55, 45));
    release(&mut mm, fixed);
    // A full allocator (no hole at all) and one with holes only at the ends.
    let units: Vec<Node> = (0..100).map(|i| mm.reserve(i, 1, 0).unwrap()).collect();
    assert_eq!(mm.largest_hole(), None);
    assert_eq!(range(&mm, 5, 8), [5, 6, 7]);
    assert_eq!(range(&mm, 0, 1), [0]);
    assert_eq!(range(&mm, 99, 1000), [99]);
    let mut units = units;
    let last = units.pop().unwrap();
    let first = units.remove(0);
    mm.remove(last).unwrap();
    mm.remove(first).unwrap();
    assert_eq!(range(&mm, 50, 52), [50, 51]);
    assert_eq!(range(&mm, 0, 2), [1]);
    mm.check().unwrap();
    for n in units {
        mm.remove(n).unwrap();
    }
    assert_eq!(holes(&mm), [(0, 100)]);
}

#[test]
fn fini_reports_leaks() {
    let mut mm = Mm::new(0, 4096).unwrap();
    let a = mm.reserve(512, 1024, 3).unwrap();
    let b = mm.reserve(2560, 1024, 0).unwrap();
    mm.remove(b).unwrap();
    core::mem::drop(a); // leaked: the token is gone, the range stays allocated
    let leak = mm.fini().unwrap_err();
    assert_eq!(
        leak.nodes,
        [NodeInfo {
            start: 512,
            size: 1024,
            color: 3
        }]
    );
    assert_eq!(
        alloc::format!("{leak}"),
        "Memory manager not clean during takedown.\nnode [00000200 + 00000400]: unknown owner\n"
    );
    assert!(Mm::new(0, 1).unwrap().fini().is_ok());
}

#[test]
fn nodes_of_another_allocator_are_rejected() {
    let mut a = Mm::new(0, 100).unwrap();
    let mut b = Mm::new(0, 100).unwrap();
    let na = a.reserve(10, 10, 0).unwrap();
    let nb = b.reserve(10, 10, 0).unwrap();
    {
        let mut scan = a.scan(5, 0, 0, 0, 100, InsertMode::Best).unwrap();
        assert_eq!(scan.add_block(&nb), Err(Error::InvalidArgument));
        assert_eq!(scan.remove_block(&nb), Err(Error::InvalidArgument));
    }
    assert_eq!(a.remove(nb), Err(Error::InvalidArgument));
    a.check().unwrap();
    assert_eq!(a.n_nodes(), 1);
    a.remove(na).unwrap();
    // nb was consumed by the failed remove: it leaks in b.
    assert_eq!(b.fini().unwrap_err().nodes.len(), 1);
}

// --- metadata exhaustion -----------------------------------------------------------------------

#[test]
fn out_of_memory_leaves_the_allocator_unchanged() {
    let mut mm = Mm::new(0, 100).unwrap();
    let a = mm.insert(10, 0, 0, InsertMode::Best).unwrap();
    mm.set_max_nodes(Some(1));
    let before = printed(&mm);
    for mode in ALL_MODES {
        expect_insert_fail(&mut mm, Error::OutOfMemory, (5, 0, 0, 0, 100, mode));
    }
    assert_eq!(mm.reserve(50, 5, 0).unwrap_err(), Error::OutOfMemory);
    assert_eq!(printed(&mm), before);
    mm.check().unwrap();
    mm.set_max_nodes(None);
    let b = mm.reserve(50, 5, 0).unwrap();
    release(&mut mm, vec![a, b]);
}

// --- colour -------------------------------------------------------------------------------

/// i915-style guard: a node keeps one unit away from neighbours of another colour.
fn guard() -> ColorAdjust {
    Box::new(
        |before: Option<&NodeInfo>,
         after: Option<&NodeInfo>,
         color,
         start: &mut u64,
         end: &mut u64| {
            if before.is_some_and(|n| n.color != color) {
                *start += 1;
            }
            if after.is_some_and(|n| n.color != color) {
                *end -= 1;
            }
        },
    )
}

fn assert_colours_apart(mm: &Mm) {
    let nodes: Vec<NodeInfo> = mm.nodes().collect();
    for w in nodes.windows(2) {
        if w[0].color != w[1].color {
            assert!(
                w[0].start + w[0].size < w[1].start,
                "{:?} touches {:?}",
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn color_adjust_keeps_colours_apart() {
    let mut mm = Mm::new(0, 1 << 12).unwrap();
    mm.set_color_adjust(Some(guard()));
    let mut rng = crate::tests::XorShift(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<Node> = Vec::new();
    for step in 0..4000 {
        if live.len() > 60 || (rng.below(3) == 0 && !live.is_empty()) {
            let i = rng.below(live.len() as u64) as usize;
            mm.remove(live.swap_remove(i)).unwrap();
        } else {
            let mode = ALL_MODES[rng.below(6) as usize];
            let size = 1 + rng.below(64);
            let color = rng.below(3);
            let align = [0, 1, 2, 8, 3][rng.below(5) as usize];
            match mm.insert(size, align, color, mode) {
                Ok(n) => {
                    assert_eq!(n.color(), color);
                    live.push(n);
                }
                Err(e) => assert_eq!(e, Error::NoSpace, "step {step}"),
            }
        }
        mm.check().unwrap();
        assert_colours_apart(&mm);
    }
    release(&mut mm, live);
}

#[test]
fn reserve_next_to_another_colour_fails() {
    let mut mm = Mm::new(0, 100).unwrap();
    mm.set_color_adjust(Some(guard()));
    let a = mm.reserve(10, 10, 1).unwrap();
    assert_eq!(mm.reserve(20, 5, 2).unwrap_err(), Error::NoSpace);
    assert_eq!(mm.reserve(5, 5, 2).unwrap_err(), Error::NoSpace);
    let same = mm.reserve(20, 5, 1).unwrap();
    let other = mm.reserve(26, 5, 2).unwrap();
    // The head (range start) is not a node: no guard against it.
    let bottom = mm.reserve(0, 9, 2).unwrap();
    assert_colours_apart(&mm);
    // Best in a layout where only the guard decides: hole [9,10) and [25,26) are single
    // units next to other colours, so a colour-3 unit goes to [32, 33).
    let n = mm.insert(1, 0, 3, InsertMode::Best).unwrap();
    assert_eq!(n.start(), 32);
    mm.check().unwrap();
    release(&mut mm, vec![a, same, other, bottom, n]);
}

#[test]
fn color_evict_names_the_neighbours_in_the_way() {
    let mut mm = Mm::new(0, 10).unwrap();
    let mut nodes: Vec<Node> = (0..10)
        .map(|i| mm.reserve(i, 1, u64::from(i == 6)).unwrap())
        .collect();
    mm.set_color_adjust(Some(guard()));
    // LRU order 6, 4, 5: the gap [4, 7) between nodes 3 and 7 (colour 0) fits at 4.
    let hit = {
        let mut scan = mm.scan(2, 0, 0, 0, 10, InsertMode::Best).unwrap();
        assert!(!scan.add_block(&nodes[6]).unwrap());
        assert!(!scan.add_block(&nodes[4]).unwrap());
        assert!(scan.add_block(&nodes[5]).unwrap());
        assert!(scan.remove_block(&nodes[5]).unwrap());
        assert!(scan.remove_block(&nodes[4]).unwrap());
        assert!(!scan.remove_block(&nodes[6]).unwrap()); // kept: outside [4, 6)
        scan.finish()
    };
    assert_eq!((hit.hit_start, hit.hit_end, hit.color), (4, 6, 0));
    let five = nodes.remove(5);
    let four = nodes.remove(4);
    mm.remove(five).unwrap();
    mm.remove(four).unwrap();
    // The kept colour-1 node 6 now touches the window: it must go as well.
    assert_eq!(
        mm.color_evict(&hit),
        Some(NodeInfo {
            start: 6,
            size: 1,
            color: 1
        })
    );
    let six = nodes.remove(4);
    assert_eq!(six.start(), 6);
    mm.remove(six).unwrap();
    assert_eq!(mm.color_evict(&hit), None);
    let n = mm.insert(2, 0, 0, InsertMode::Evict).unwrap();
    assert_eq!(n.start(), 4);
    nodes.push(n);
    mm.check().unwrap();
    assert_colours_apart(&mm);
    // Without a callback there is never anything to add.
    mm.set_color_adjust(None);
    assert_eq!(mm.color_evict(&hit), None);
    release(&mut mm, nodes);
}

// --- scan ---------------------------------------------------------------------------------

pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Scans `lru` for the request, evicts what the scan names and inserts with `Evict`;
/// checks the new node lands on the window and, if `exact` (unit nodes), that exactly
/// the window was freed and the new node fills it.
fn scan_evict_insert(
    mm: &mut Mm,
    lru: &mut Vec<Node>,
    (size, align, mode): (u64, u64, InsertMode),
    exact: bool,
) {
    let (added, evict, hit) = {
        let mut scan = mm.scan(size, align, 0, mm.start(), mm.end(), mode).unwrap();
        let mut added = 0;
        for node in lru.iter() {
            added += 1;
            if scan.add_block(node).unwrap() {
                break;
            }
        }
        let mut evict = Vec::new();
        for i in (0..added).rev() {
            if scan.remove_block(&lru[i]).unwrap() {
                evict.push(i);
            }
        }
        assert_eq!(scan.n_blocks(), 0);
        (added, evict, scan.finish())
    };
    assert!(
        hit.is_hit(),
        "size {size} align {align}: no window after {added} blocks"
    );
    assert_eq!(hit.hit_end - hit.hit_start, size);
    if align > 1 {
        assert_eq!(hit.hit_start % align, 0);
    }
    let mut evict = evict;
    evict.sort_unstable();
    for i in evict.into_iter().rev() {
        let n = lru.remove(i);
        assert!(n.end() > hit.hit_start && n.start() < hit.hit_end);
        mm.remove(n).unwrap();
    }
    let (hs, he) = mm.holes_by_recency().next().unwrap();
    assert!(
        hs <= hit.hit_start && he >= hit.hit_end,
        "freed hole misses the window"
    );
    if exact {
        assert_eq!(
            holes(mm),
            [(hit.hit_start, hit.hit_end)],
            "size {size} align {align}"
        );
    }
    let n = mm.insert(size, align, 0, InsertMode::Evict).unwrap();
    assert_eq!((n.start(), n.end()), (hit.hit_start, hit.hit_end));
    if exact {
        assert_eq!(
            mm.largest_hole(),
            None,
            "a hole is left after the evict insert"
        );
    }
    lru.push(n);
    mm.check().unwrap();
}

#[test]
fn scan_evict_on_a_full_mm_of_unit_nodes() {
    // Powers of two and odd values up to 8192 units and 4096 alignment, corners included.
    let sizes = [
        1, 2, 3, 4, 5, 7, 8, 31, 64, 127, 255, 256, 1000, 1023, 4095, 4096, 8191, 8192,
    ];
    let aligns = [1, 2, 3, 4, 7, 8, 64, 100, 511, 512, 4095, 4096];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for (k, &size) in sizes.iter().enumerate() {
        for (j, &align) in aligns.iter().enumerate() {
            // Room for one aligned window plus slack on both sides.
            let n_units = size + align + size / 2 + 17;
            let mode = if (k + j) % 3 == 0 {
                InsertMode::High
            } else {
                InsertMode::Best
            };
            let mut mm = Mm::new(0, n_units).unwrap();
            let mut lru: Vec<Node> = (0..n_units).map(|i| mm.reserve(i, 1, 0).unwrap()).collect();
            // Half of the cases scan in a shuffled LRU order.
            if (k + j) % 2 == 1 {
                for i in (1..lru.len()).rev() {
                    let r = rng.below(i as u64 + 1) as usize;
                    lru.swap(i, r);
                }
            }
            scan_evict_insert(&mut mm, &mut lru, (size, align, mode), true);
            if (k + j) % 4 == 0 {
                // A second round on the now mixed-size layout (bottom placement, so the
                // Evict insert still lands on the window).
                scan_evict_insert(&mut mm, &mut lru, (size, align, InsertMode::Best), false);
            }
            for n in lru {
                mm.remove(n).unwrap();
            }
            assert_eq!(holes(&mm), [(0, n_units)]);
        }
    }
}

#[test]
fn scan_places_high_at_the_top_of_the_gap() {
    let mut mm = Mm::new(0, 16).unwrap();
    let nodes: Vec<Node> = (0..4).map(|i| mm.reserve(i * 4, 4, 0).unwrap()).collect();
    let mut scan = mm.scan(3, 0, 0, 0, 16, InsertMode::High).unwrap();
    assert!(scan.add_block(&nodes[1]).unwrap());
    assert_eq!(scan.result().hit_start, 5);
    assert!(scan.remove_block(&nodes[1]).unwrap());
    let hit = scan.finish();
    assert_eq!((hit.hit_start, hit.hit_end), (5, 8));
    // Highest is not High for the scan: bottom placement, as upstream.
    let mut scan = mm.scan(3, 0, 0, 0, 16, InsertMode::Highest).unwrap();
    assert!(scan.add_block(&nodes[1]).unwrap());
    assert_eq!(scan.finish().hit_start, 4);
    mm.check().unwrap();
    release(&mut mm, nodes);
}

#[test]
fn scan_misuse_is_rejected_and_state_restored() {
    let mut mm = Mm::new(0, 64).unwrap();
    let nodes: Vec<Node> = (0..8).map(|i| mm.reserve(i * 8, 8, 0).unwrap()).collect();
    let before = printed(&mm);
    assert_eq!(
        mm.scan(0, 0, 0, 0, 64, InsertMode::Best).unwrap_err(),
        Error::NoSpace
    );
    assert_eq!(
        mm.scan(65, 0, 0, 0, 64, InsertMode::Best).unwrap_err(),
        Error::NoSpace
    );
    assert_eq!(
        mm.scan(1, 0, 0, 10, 9, InsertMode::Best).unwrap_err(),
        Error::InvalidArgument
    );
    {
        let mut scan = mm.scan(20, 0, 0, 0, 64, InsertMode::Best).unwrap();
        assert!(!scan.add_block(&nodes[2]).unwrap());
        assert_eq!(scan.add_block(&nodes[2]), Err(Error::Busy));
        assert!(!scan.add_block(&nodes[3]).unwrap());
        // Not in the roster, and out of order.
        assert_eq!(scan.remove_block(&nodes[4]), Err(Error::InvalidArgument));
        assert_eq!(scan.remove_block(&nodes[2]), Err(Error::InvalidArgument));
        assert_eq!(scan.n_blocks(), 2);
        assert!(scan.add_block(&nodes[4]).unwrap()); // gap [16, 40)
        assert_eq!((scan.result().hit_start, scan.result().hit_end), (16, 36));
        assert!(scan.remove_block(&nodes[4]).unwrap());
        // Dropped with nodes 2 and 3 still in the roster.
    }
    mm.check().unwrap();
    assert_eq!(printed(&mm), before);
    {
        // A scan that finds nothing: every removal says "keep".
        let mut scan = mm.scan(8, 16, 0, 0, 64, InsertMode::Low).unwrap();
        assert!(!scan.add_block(&nodes[1]).unwrap()); // [8,16) is not 16-aligned
        assert!(!scan.remove_block(&nodes[1]).unwrap());
        let hit = scan.finish();
        assert!(!hit.is_hit());
        assert_eq!((hit.hit_start, hit.hit_end), (u64::MAX, 0));
    }
    assert_eq!(printed(&mm), before);
    // finish() with blocks still added restores them too.
    let mut scan = mm.scan(8, 0, 0, 0, 64, InsertMode::Best).unwrap();
    assert!(scan.add_block(&nodes[7]).unwrap());
    let _ = scan.finish();
    assert_eq!(printed(&mm), before);
    mm.check().unwrap();
    release(&mut mm, nodes);
}

#[test]
fn scan_respects_the_range() {
    let mut mm = Mm::new(0, 32).unwrap();
    let nodes: Vec<Node> = (0..32).map(|i| mm.reserve(i, 1, 0).unwrap()).collect();
    let mut scan = mm.scan(4, 0, 0, 10, 20, InsertMode::Best).unwrap();
    let mut fit_at = None;
    for (i, n) in nodes.iter().enumerate() {
        if scan.add_block(n).unwrap() {
            fit_at = Some(i);
            break;
        }
    }
    assert_eq!(fit_at, Some(13)); // [10, 14) is the first window inside the range
    assert_eq!(scan.result().hit_start, 10);
    for i in (0..=13).rev() {
        assert_eq!(
            scan.remove_block(&nodes[i]).unwrap(),
            (10..14).contains(&i),
            "node {i}"
        );
    }
    let _ = scan.finish();
    mm.check().unwrap();
    release(&mut mm, nodes);
}

#[test]
fn trees_stay_balanced_under_churn() {
    // M1-like churn; the treaps' depth must stay logarithmic (a degenerate shape would
    // turn every operation linear).
    let mut mm = Mm::new(0, 1 << 22).unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<Node> = Vec::new();
    let mut units = 0u64;
    for _ in 0..60_000 {
        let alloc = if units < (1 << 22) * 4 / 10 {
            true
        } else if units >= (1 << 21) {
            false
        } else {
            rng.next() & 1 == 0
        };
        if alloc {
            let n = mm
                .insert(1 + rng.below(512), 0, 0, InsertMode::Best)
                .unwrap();
            units += n.size();
            live.push(n);
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let n = live.swap_remove(i);
            units -= n.size();
            mm.remove(n).unwrap();
        }
    }
    mm.check().unwrap();
    let n = mm.n_nodes() as f64;
    let ((addr_max, addr_mean), (size_max, _)) = mm.depths();
    assert!(n > 5000.0, "{n} nodes");
    assert!(
        (addr_max as f64) < 4.0 * n.log2(),
        "address tree depth {addr_max} for {n} nodes"
    );
    assert!(
        addr_mean < 2.0 * n.log2(),
        "address tree mean depth {addr_mean}"
    );
    assert!(
        (size_max as f64) < 4.0 * n.log2(),
        "size tree depth {size_max}"
    );
    for n in live {
        mm.remove(n).unwrap();
    }
    mm.check().unwrap();
    assert!(mm.is_clean());
}

#[test]
fn lazy_address_augmentation_is_cleaned_before_address_searches() {
    // Runs of Best/Evict churn switch the address tree's augmentation to lazy (stale
    // paths marked); every Low/High/Lowest/Highest/restricted Best search must first
    // make it exact again and find the hole a brute-force scan of the holes names.
    let mut mm = Mm::new(0, 1 << 16).unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<Node> = Vec::new();
    for round in 0..40 {
        for _ in 0..100 {
            if live.len() < 60 || (live.len() < 200 && rng.next() & 1 == 0) {
                let mode = if rng.next() & 1 == 0 {
                    InsertMode::Best
                } else {
                    InsertMode::Evict
                };
                if let Ok(n) = mm.insert(1 + rng.below(700), 0, 0, mode) {
                    live.push(n);
                }
            } else {
                let i = rng.below(live.len() as u64) as usize;
                mm.remove(live.swap_remove(i)).unwrap();
            }
            mm.check().unwrap();
        }
        assert!(
            mm.addr_lazy(),
            "round {round}: 100 updates without a search"
        );
        let size = 1 + rng.below(2000);
        let fits: Vec<(u64, u64)> = holes(&mm)
            .into_iter()
            .filter(|&(s, e)| e - s >= size)
            .collect();
        let (mode, want) = match round % 4 {
            0 => (InsertMode::Low, fits.first().map(|&(s, _)| s)),
            1 => (InsertMode::High, fits.last().map(|&(_, e)| e - size)),
            2 => (InsertMode::Lowest, fits.first().map(|&(s, _)| s)),
            _ => (InsertMode::Highest, fits.last().map(|&(_, e)| e - size)),
        };
        match mm.insert(size, 0, 0, mode) {
            Ok(n) => {
                assert_eq!(Some(n.start()), want, "round {round}: {mode:?} of {size}");
                live.push(n);
            }
            Err(e) => assert_eq!((e, want), (Error::NoSpace, None), "round {round}"),
        }
        // Without a hole large enough by size the insert fails before any search.
        assert_eq!(mm.addr_lazy(), fits.is_empty(), "round {round}");
        mm.check().unwrap();
        // A restricted Best in the lower half: a hole of the smallest clamped size
        // that fits, entered at its start.
        for _ in 0..LAZY_UPDATES {
            let n = mm.insert(1, 0, 0, InsertMode::Evict).unwrap();
            mm.remove(n).unwrap();
        }
        assert!(mm.addr_lazy());
        let half = 1 << 15;
        let clamped: Vec<(u64, u64)> = holes(&mm)
            .into_iter()
            .map(|(s, e)| (s, e.min(half)))
            .filter(|&(s, e)| s < e && e - s >= 16)
            .collect();
        let smallest = clamped.iter().map(|&(s, e)| e - s).min();
        match mm.insert_in_range(16, 0, 0, 0, half, InsertMode::Best) {
            Ok(n) => {
                let hole = clamped.iter().find(|&&(s, _)| s == n.start());
                assert_eq!(hole.map(|&(s, e)| e - s), smallest, "round {round}");
                live.push(n);
            }
            Err(e) => assert_eq!((e, smallest), (Error::NoSpace, None)),
        }
        assert_eq!(
            mm.addr_lazy(),
            !matches!(mm.largest_hole(), Some((s, e)) if e - s >= 16)
        );
        mm.check().unwrap();
    }
    release(&mut mm, live);
}

#[test]
fn a_deferred_merged_hole_keeps_its_recency_in_best_and_largest() {
    // [0, 100): nodes of 10 at 0..100; free [20, 30) first (an older hole of 30 after
    // merging below), then remove 60, 70, 80 one after another: the merged hole
    // [60, 90) is the newest, and its size-index entry waits until it is needed.
    let mut mm = Mm::new(0, 100).unwrap();
    let mut nodes: Vec<Option<Node>> = (0..10)
        .map(|k| Some(mm.reserve(k * 10, 10, 0).unwrap()))
        .collect();
    for k in [2, 3, 4] {
        mm.remove(nodes[k].take().unwrap()).unwrap();
        mm.check().unwrap();
    }
    for k in [8, 7, 6] {
        mm.remove(nodes[k].take().unwrap()).unwrap();
        mm.check().unwrap();
    }
    // Two holes of 30: [20, 50) older, [60, 90) newest; largest and Best take the newest.
    assert_eq!(holes(&mm), [(20, 50), (60, 90)]);
    assert_eq!(mm.largest_hole(), Some((60, 90)));
    let a = mm.insert(25, 0, 0, InsertMode::Best).unwrap();
    assert_eq!(a.start(), 60);
    mm.check().unwrap();
    // The next Best of 25 goes to the other hole; then nothing of 25 is left.
    let b = mm.insert(25, 0, 0, InsertMode::Best).unwrap();
    assert_eq!(b.start(), 20);
    assert_eq!(mm.largest_hole(), Some((45, 50)));
    assert_eq!(
        mm.insert(6, 0, 0, InsertMode::Best).unwrap_err(),
        Error::NoSpace
    );
    mm.check().unwrap();
    let mut live: Vec<Node> = nodes.into_iter().flatten().collect();
    live.extend([a, b]);
    release(&mut mm, live);
}
