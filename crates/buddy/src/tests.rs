//! Unit tests: upstream's worked examples and acceptance scenarios with exact offsets,
//! every error of the error table, the exact dump text, clear/dirty tracking, trim,
//! try-harder, and injected metadata-allocation failure at every point.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{
    AllocFlags, Block, BlockInfo, BuddyAllocator, BuddyRequest, Error, FreeFlags, Pow2, Window,
};

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;
const G: u64 = 1 << 30;
const NONE: AllocFlags = AllocFlags::empty();

fn spans(blocks: &[Block]) -> Vec<(u64, u64)> {
    blocks.iter().map(|b| (b.offset(), b.size())).collect()
}

fn snapshot(mm: &BuddyAllocator) -> (Vec<BlockInfo>, u64, u64, String) {
    let mut leaves = Vec::new();
    mm.for_each_block(|b| leaves.push(b));
    let mut text = String::new();
    mm.print(&mut text).unwrap();
    (leaves, mm.avail(), mm.clear_avail(), text)
}

fn dump(mm: &BuddyAllocator) -> String {
    let mut text = String::new();
    mm.print(&mut text).unwrap();
    text
}

/// Asserts a failing call returned `want` and changed nothing.
fn expect_fail(
    mm: &mut BuddyAllocator,
    want: Error,
    f: impl FnOnce(&mut BuddyAllocator) -> crate::Result<Vec<Block>>,
) {
    let before = snapshot(mm);
    match f(mm) {
        Ok(blocks) => panic!("expected {want:?}, got blocks {:?}", spans(&blocks)),
        Err(e) => assert_eq!(e, want, "wrong error"),
    }
    assert_eq!(snapshot(mm), before, "failed call changed the allocator");
    mm.check().unwrap();
}

fn free_all(mm: &mut BuddyAllocator, blocks: Vec<Block>) {
    mm.free_blocks(blocks, FreeFlags::empty()).unwrap();
    mm.check().unwrap();
}

// ---- geometry ---------------------------------------------------------------------------

#[test]
fn init_validates_in_upstream_order() {
    assert_eq!(
        BuddyAllocator::new(4 * K, 8 * K).unwrap_err(),
        Error::InvalidArgument
    );
    assert_eq!(
        BuddyAllocator::new(M, 2 * K).unwrap_err(),
        Error::InvalidArgument
    );
    assert_eq!(
        BuddyAllocator::new(M, 12 * K).unwrap_err(),
        Error::InvalidArgument
    );
    assert_eq!(
        BuddyAllocator::new(0, 0).unwrap_err(),
        Error::InvalidArgument
    );
    assert_eq!(Error::InvalidArgument.errno(), 22);
    assert_eq!(Error::NoSpace.errno(), 28);
    assert_eq!(Error::OutOfMemory.errno(), 12);
}

#[test]
fn roots_are_the_binary_decomposition_largest_first() {
    let mm = BuddyAllocator::new(10 * G, 4 * K).unwrap();
    assert_eq!(mm.roots().collect::<Vec<_>>(), [(0, 8 * G), (8 * G, 2 * G)]);
    assert_eq!((mm.n_roots(), mm.max_order(), mm.size()), (2, 21, 10 * G));
    let mm = BuddyAllocator::new(7 * M + 123, 4 * K).unwrap();
    assert_eq!(
        mm.roots().collect::<Vec<_>>(),
        [(0, 4 * M), (4 * M, 2 * M), (6 * M, M)]
    );
    assert_eq!(mm.size(), 7 * M);
    mm.check().unwrap();
    let mm = BuddyAllocator::new(u64::MAX, 4 * K).unwrap();
    assert_eq!((mm.max_order(), mm.n_roots()), (51, 52));
    assert_eq!(mm.size(), !0xfff_u64);
    mm.check().unwrap();
    let mm = BuddyAllocator::new(64 * K, 64 * K).unwrap();
    assert_eq!(
        (mm.max_order(), mm.chunk_size(), mm.n_roots()),
        (0, 64 * K, 1)
    );
}

// ---- acceptance and worked examples (reference §8) --------------------------------------

#[test]
fn fresh_allocator_hands_out_pages_from_the_top() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let mut pages = Vec::new();
    for i in 1..=64u64 {
        let b = mm.alloc_blocks(0, 16 * M, 4 * K, 4 * K, NONE).unwrap();
        assert_eq!(spans(&b), [(16 * M - i * 4 * K, 4 * K)]);
        pages.extend(b);
        mm.check().unwrap();
    }
    free_all(&mut mm, pages);
    assert_eq!(mm.avail(), 16 * M);
    assert_eq!(mm.n_free_blocks(12), 1);
}

#[test]
fn range_allocation_starts_at_the_bottom() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let a = mm
        .alloc_blocks(0, 16 * M, 4 * K, 4 * K, AllocFlags::RANGE)
        .unwrap();
    let b = mm
        .alloc_blocks(0, 16 * M, 4 * K, 4 * K, AllocFlags::RANGE)
        .unwrap();
    let c = mm
        .alloc_blocks(8 * K, 16 * M, 16 * K, 4 * K, AllocFlags::RANGE)
        .unwrap();
    assert_eq!(spans(&a), [(0, 4 * K)]);
    assert_eq!(spans(&b), [(4 * K, 4 * K)]);
    assert_eq!(spans(&c), [(16 * K, 16 * K)], "16K-aligned slot above 8K");
    mm.check().unwrap();
    for blocks in [a, b, c] {
        free_all(&mut mm, blocks);
    }
    assert_eq!(mm.n_free_blocks(12), 1);
}

#[test]
fn topdown_takes_the_highest_block_of_any_sufficient_order() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let b = mm
        .alloc_blocks(0, 16 * M, 5 * 4 * K, 4 * K, AllocFlags::TOPDOWN)
        .unwrap();
    assert_eq!(
        spans(&b),
        [(16 * M - 16 * K, 16 * K), (16 * M - 20 * K, 4 * K)]
    );
    assert_eq!((b[0].order(), b[1].order()), (2, 0));
    free_all(&mut mm, b);
    // Default placement picks the smallest order first, TOPDOWN the highest offset.
    let low = mm
        .alloc_blocks(0, 16 * M, 4 * K, 4 * K, AllocFlags::RANGE)
        .unwrap();
    let best = mm.alloc_blocks(0, 16 * M, 8 * M, 8 * M, NONE).unwrap();
    assert_eq!(spans(&best), [(8 * M, 8 * M)]);
    free_all(&mut mm, best);
    let td = mm
        .alloc(
            &BuddyRequest::new(4 * K, 4 * K)
                .unwrap()
                .window(Window::TopDown),
        )
        .unwrap();
    let dflt = mm.alloc(&BuddyRequest::new(4 * K, 4 * K).unwrap()).unwrap();
    assert_eq!(spans(&td), [(16 * M - 4 * K, 4 * K)]);
    // Best fit: order 0, the highest of the two order-0 blocks.
    assert_eq!(spans(&dflt), [(16 * M - 8 * K, 4 * K)]);
    for blocks in [low, td, dflt] {
        free_all(&mut mm, blocks);
    }
}

#[test]
fn contiguous_rounds_then_trims_to_the_exact_size() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let b = mm
        .alloc_blocks(0, 16 * M, 3 * 4 * K, 4 * K, AllocFlags::CONTIGUOUS)
        .unwrap();
    assert_eq!(
        spans(&b),
        [(16 * M - 16 * K, 8 * K), (16 * M - 8 * K, 4 * K)]
    );
    assert_eq!(b[0].offset() % (16 * K), 0);
    assert_eq!(mm.avail(), 16 * M - 12 * K);
    mm.check().unwrap();
    free_all(&mut mm, b);
    let flags = AllocFlags::CONTIGUOUS | AllocFlags::TRIM_DISABLE;
    let b = mm.alloc_blocks(0, 16 * M, 3 * 4 * K, 4 * K, flags).unwrap();
    assert_eq!(spans(&b), [(16 * M - 16 * K, 16 * K)]);
    free_all(&mut mm, b);
    assert_eq!(mm.avail(), 16 * M);
}

#[test]
fn greedy_blocks_and_trim_of_the_last_block() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let b = mm.alloc_blocks(0, 16 * M, 5 * M, 2 * M, NONE).unwrap();
    assert_eq!(spans(&b), [(12 * M, 4 * M), (10 * M, M)]);
    assert_eq!(mm.avail(), 11 * M);
    mm.check().unwrap();
    free_all(&mut mm, b);
    let b = mm
        .alloc_blocks(0, 16 * M, 5 * M, 2 * M, AllocFlags::TRIM_DISABLE)
        .unwrap();
    assert_eq!(spans(&b), [(12 * M, 4 * M), (10 * M, 2 * M)]);
    free_all(&mut mm, b);
}

#[test]
fn offset_aligned_allocation() {
    let mut mm = BuddyAllocator::new(4 * M, 4 * K).unwrap();
    let a = mm.alloc_blocks(0, 4 * M, 8 * K, 256 * K, NONE).unwrap();
    assert_eq!(spans(&a), [(4 * M - 256 * K, 8 * K)]);
    let b = mm.alloc_blocks(0, 4 * M, 12 * K, 256 * K, NONE).unwrap();
    assert_eq!(
        spans(&b),
        [(4 * M - 512 * K, 8 * K), (4 * M - 504 * K, 4 * K)]
    );
    // The next 8 KiB reuses an aligned free order-1 block instead of splitting more.
    let c = mm.alloc_blocks(0, 4 * M, 8 * K, 256 * K, NONE).unwrap();
    assert_eq!(c[0].offset() % (256 * K), 0);
    assert_eq!(spans(&c), [(4 * M - 768 * K, 8 * K)]);
    mm.check().unwrap();
    for blocks in [a, b, c] {
        free_all(&mut mm, blocks);
    }
    assert_eq!(mm.n_free_blocks(10), 1);
}

#[test]
fn ten_gib_multiple_roots_and_try_harder() {
    let mut mm = BuddyAllocator::new(10 * G, 4 * K).unwrap();
    let b = mm.alloc_blocks(0, 10 * G, 9 * G, 4 * K, NONE).unwrap();
    assert_eq!(spans(&b), [(0, 8 * G), (9 * G, G)]);
    free_all(&mut mm, b);
    expect_fail(&mut mm, Error::InvalidArgument, |mm| {
        mm.alloc_blocks(0, 10 * G, 9 * G, 8 * G, NONE)
    });
    let b = mm
        .alloc_blocks(0, 10 * G, 9 * G, 4 * K, AllocFlags::CONTIGUOUS)
        .unwrap();
    assert_eq!(spans(&b), [(0, 8 * G), (8 * G, G)]);
    assert_eq!(mm.avail(), G);
    mm.check().unwrap();
    free_all(&mut mm, b);
    // CONTIGUOUS with RANGE never tries harder.
    expect_fail(&mut mm, Error::InvalidArgument, |mm| {
        mm.alloc_blocks(
            0,
            10 * G,
            9 * G,
            4 * K,
            AllocFlags::CONTIGUOUS | AllocFlags::RANGE,
        )
    });
}

#[test]
fn exact_range_shortcut() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let a = mm.alloc_blocks(4 * M, 6 * M, 2 * M, 4 * K, NONE).unwrap();
    assert_eq!(spans(&a), [(4 * M, 2 * M)]);
    free_all(&mut mm, a);
    let b = mm
        .alloc_blocks(4 * K, 4 * M + 4 * K, 4 * M, 4 * K, NONE)
        .unwrap();
    let mut want: Vec<(u64, u64)> = (0..10).map(|i| ((4 * K) << i, (4 * K) << i)).collect();
    want.push((4 * M, 4 * K));
    assert_eq!(spans(&b), want);
    mm.check().unwrap();
    // Any overlap: all or nothing.
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, 8 * K, 8 * K, 4 * K, NONE)
    });
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(4 * M, 8 * M, 4 * M, 4 * K, AllocFlags::RANGE)
    });
    // Misaligned to min_block_size.
    expect_fail(&mut mm, Error::InvalidArgument, |mm| {
        mm.alloc_blocks(8 * M + 4 * K, 8 * M + 8 * K, 4 * K, 8 * K, NONE)
    });
    // Spanning roots.
    let mut mm2 = BuddyAllocator::new(6 * M, 4 * K).unwrap();
    let c = mm2.alloc_blocks(3 * M, 5 * M, 2 * M, 4 * K, NONE).unwrap();
    assert_eq!(spans(&c), [(3 * M, M), (4 * M, M)]);
    free_all(&mut mm2, c);
    free_all(&mut mm, b);
}

#[test]
fn cleared_free_does_not_merge_with_dirty_and_force_merge_joins_them() {
    let mut mm = BuddyAllocator::new(16 * K, 4 * K).unwrap();
    let big = mm.alloc_blocks(0, 16 * K, 8 * K, 8 * K, NONE).unwrap();
    assert_eq!(spans(&big), [(8 * K, 8 * K)]);
    let p1 = mm.alloc_blocks(0, 16 * K, 4 * K, 4 * K, NONE).unwrap();
    let p0 = mm.alloc_blocks(0, 16 * K, 4 * K, 4 * K, NONE).unwrap();
    assert_eq!(
        (spans(&p1), spans(&p0)),
        ([(4 * K, 4 * K)].to_vec(), [(0, 4 * K)].to_vec())
    );
    mm.free_blocks(p1, FreeFlags::CLEARED).unwrap();
    mm.free_blocks(p0, FreeFlags::empty()).unwrap();
    mm.check().unwrap();
    assert_eq!((mm.avail(), mm.clear_avail()), (8 * K, 4 * K));
    assert_eq!((mm.n_free_blocks(0), mm.n_free_blocks(1)), (2, 0));
    let merged = mm.alloc_blocks(0, 16 * K, 8 * K, 8 * K, NONE).unwrap();
    assert_eq!(spans(&merged), [(0, 8 * K)]);
    assert!(!merged[0].is_clear());
    assert_eq!((mm.avail(), mm.clear_avail()), (0, 0));
    mm.check().unwrap();
    free_all(&mut mm, merged);
    free_all(&mut mm, big);
    assert_eq!(mm.n_free_blocks(2), 1);
}

#[test]
fn clear_tracking_prefers_and_keeps_clear_bits() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let a = mm.alloc_blocks(0, 16 * M, M, M, NONE).unwrap();
    assert_eq!(spans(&a), [(15 * M, M)]);
    mm.free_blocks(a, FreeFlags::CLEARED).unwrap();
    assert_eq!(mm.clear_avail(), M);
    mm.check().unwrap();
    // Plain requests prefer dirty memory.
    let d = mm.alloc_blocks(0, 16 * M, M, M, NONE).unwrap();
    assert_eq!(spans(&d), [(14 * M, M)]);
    assert!(!d[0].is_clear());
    // CLEAR prefers the clear block; it stays marked so the caller can skip zeroing.
    let c = mm
        .alloc_blocks(0, 16 * M, 512 * K, 4 * K, AllocFlags::CLEAR)
        .unwrap();
    assert_eq!(spans(&c), [(15 * M + 512 * K, 512 * K)]);
    assert!(c[0].is_clear());
    assert_eq!(mm.clear_avail(), 512 * K);
    // Freed without CLEARED it becomes dirty.
    free_all(&mut mm, c);
    assert_eq!(mm.clear_avail(), 512 * K, "the other half is still clear");
    assert_eq!(mm.n_free_blocks(7), 2, "clear and dirty halves stay apart");
    let twice = mm.alloc_blocks(0, 16 * M, 2 * M, M, NONE).unwrap();
    assert_eq!(spans(&twice), [(12 * M, 2 * M)]);
    mm.free_blocks(twice, FreeFlags::CLEARED).unwrap();
    assert_eq!(mm.clear_avail(), 2 * M + 512 * K);
    mm.check().unwrap();
    mm.reset_clear(true);
    assert_eq!(mm.clear_avail(), mm.avail());
    mm.check().unwrap();
    mm.reset_clear(false);
    assert_eq!(mm.clear_avail(), 0);
    mm.check().unwrap();
    free_all(&mut mm, d);
    assert_eq!(mm.n_free_blocks(12), 1);
    // Two clear halves merge into a clear parent.
    let mut mm = BuddyAllocator::new(8 * K, 4 * K).unwrap();
    let a = mm.alloc_blocks(0, 8 * K, 4 * K, 4 * K, NONE).unwrap();
    let b = mm.alloc_blocks(0, 8 * K, 4 * K, 4 * K, NONE).unwrap();
    mm.free_blocks(a, FreeFlags::CLEARED).unwrap();
    mm.free_blocks(b, FreeFlags::CLEARED).unwrap();
    assert_eq!((mm.n_free_blocks(1), mm.clear_avail()), (1, 8 * K));
    mm.check().unwrap();
}

#[test]
fn reset_clear_force_merges_mixed_buddies() {
    let mut mm = BuddyAllocator::new(64 * K, 4 * K).unwrap();
    let pages: Vec<Vec<Block>> = (0..16)
        .map(|_| mm.alloc_blocks(0, 64 * K, 4 * K, 4 * K, NONE).unwrap())
        .collect();
    for (i, p) in pages.into_iter().enumerate() {
        let flags = if i % 2 == 0 {
            FreeFlags::CLEARED
        } else {
            FreeFlags::empty()
        };
        mm.free_blocks(p, flags).unwrap();
        mm.check().unwrap();
    }
    assert_eq!((mm.n_free_blocks(0), mm.clear_avail()), (16, 32 * K));
    mm.reset_clear(false);
    mm.check().unwrap();
    assert_eq!(
        (mm.n_free_blocks(0), mm.n_free_blocks(4), mm.clear_avail()),
        (0, 1, 0)
    );
    mm.reset_clear(true);
    assert_eq!(mm.clear_avail(), 64 * K);
    assert!(mm.fini().is_ok());
}

#[test]
fn range_clear_first_pass_only_uses_a_clear_root() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let a = mm.alloc_blocks(0, 16 * M, M, M, NONE).unwrap();
    mm.free_blocks(a, FreeFlags::CLEARED).unwrap();
    // The clear MiB at 15M is below a split root: pass 1 finds nothing, pass 2 takes
    // the lowest slot whatever its state.
    let r = mm
        .alloc_blocks(
            0,
            16 * M,
            4 * K,
            4 * K,
            AllocFlags::RANGE | AllocFlags::CLEAR,
        )
        .unwrap();
    assert_eq!(spans(&r), [(0, 4 * K)]);
    assert!(!r[0].is_clear());
    // A dirty range request skips clear blocks in pass 1.
    let d = mm
        .alloc_blocks(15 * M, 16 * M, 4 * K, 4 * K, AllocFlags::RANGE)
        .unwrap();
    assert_eq!(
        spans(&d),
        [(15 * M, 4 * K)],
        "pass 2 after pass 1 found no dirty block"
    );
    assert!(d[0].is_clear());
    free_all(&mut mm, r);
    free_all(&mut mm, d);
    mm.reset_clear(true);
    let c = mm
        .alloc_blocks(
            4 * M,
            8 * M,
            8 * K,
            4 * K,
            AllocFlags::RANGE | AllocFlags::CLEAR,
        )
        .unwrap();
    assert_eq!(spans(&c), [(4 * M, 8 * K)]);
    assert!(c[0].is_clear());
    free_all(&mut mm, c);
}

#[test]
fn try_harder_shifts_left_and_rounds_down_to_min_block_size() {
    let mut mm = BuddyAllocator::new(M, 4 * K).unwrap();
    let r1 = mm
        .alloc_blocks(256 * K, 260 * K, 4 * K, 4 * K, NONE)
        .unwrap();
    let r2 = mm
        .alloc_blocks(768 * K, 772 * K, 4 * K, 4 * K, NONE)
        .unwrap();
    let b = mm
        .alloc_blocks(0, M, 384 * K, 4 * K, AllocFlags::CONTIGUOUS)
        .unwrap();
    assert_eq!(spans(&b), [(384 * K, 128 * K), (512 * K, 256 * K)]);
    mm.check().unwrap();
    free_all(&mut mm, b);
    // With a 256 KiB minimum the shifted start rounds down onto the taken page: no fit.
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, 384 * K, 256 * K, AllocFlags::CONTIGUOUS)
    });
    // Order 0 requests never try harder.
    free_all(&mut mm, r1);
    free_all(&mut mm, r2);
}

#[test]
fn many_blocks_and_fallback_orders() {
    let mut mm = BuddyAllocator::new(M, 4 * K).unwrap();
    // Take every other page: only order-0 blocks remain free.
    let mut keep = Vec::new();
    let mut give = Vec::new();
    for i in 0..256 {
        let p = mm.alloc_blocks(0, M, 4 * K, 4 * K, NONE).unwrap();
        if i % 2 == 0 {
            keep.push(p)
        } else {
            give.push(p)
        }
    }
    for p in give {
        free_all(&mut mm, p);
    }
    assert_eq!(mm.n_free_blocks(0), 128);
    let b = mm.alloc_blocks(0, M, 40 * K, 4 * K, NONE).unwrap();
    assert_eq!(b.len(), 10);
    assert!(b.iter().all(|b| b.size() == 4 * K));
    assert!(
        b.windows(2).all(|w| w[0].offset() > w[1].offset()),
        "highest first"
    );
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, 8 * K, 8 * K, NONE)
    });
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, M / 2, 4 * K, NONE)
    });
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, 8 * K, 4 * K, AllocFlags::CONTIGUOUS)
    });
    free_all(&mut mm, b);
    for p in keep {
        free_all(&mut mm, p);
    }
    assert!(mm.fini().is_ok());
}

// ---- errors -------------------------------------------------------------------------------

#[test]
fn alloc_validation_errors_in_order() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let inval = Error::InvalidArgument;
    let cases: &[(u64, u64, u64, u64, AllocFlags)] = &[
        (0, 16 * M, 2 * K, 4 * K, NONE),         // size < chunk
        (0, 16 * M, 0, 4 * K, NONE),             // size 0
        (0, 16 * M, 4 * K, 2 * K, NONE),         // min < chunk
        (0, 16 * M, 4 * K, 12 * K, NONE),        // min not a power of two
        (2 * K, 16 * M, 4 * K, 4 * K, NONE),     // start misaligned
        (0, 16 * M - 2 * K, 4 * K, 4 * K, NONE), // end misaligned
        (0, 16 * M, 6 * K, 4 * K, NONE),         // size misaligned
        (0, 32 * M, 4 * K, 4 * K, NONE),         // end > size
        (16 * M, 16 * M, 4 * K, 4 * K, NONE),    // start >= size
        (8 * M, 16 * M, 12 * M, 4 * K, NONE),    // size > size - start
        (!0xfff_u64, 0, 4 * K, 4 * K, NONE),     // start far beyond
        (0, 16 * M, 12 * M, 16 * M, NONE),       // rounded to 16M: ok size, but...
    ];
    for (i, &(start, end, size, min, flags)) in cases.iter().enumerate() {
        let before = snapshot(&mm);
        let got = mm.alloc_blocks(start, end, size, min, flags);
        if i == cases.len() - 1 {
            // 12M rounded up to 16M fits, then is trimmed back: a success.
            let b = got.unwrap();
            assert_eq!(spans(&b), [(0, 8 * M), (8 * M, 4 * M)]);
            free_all(&mut mm, b);
            continue;
        }
        assert_eq!(got.map(|b| spans(&b)), Err(inval), "case {i}");
        assert_eq!(snapshot(&mm), before);
    }
    // Rounded too big.
    expect_fail(&mut mm, inval, |mm| {
        mm.alloc_blocks(0, 16 * M, 12 * M, 32 * M, NONE)
    });
    // Exact range misaligned to min_block_size.
    expect_fail(&mut mm, inval, |mm| {
        mm.alloc_blocks(4 * K, 12 * K, 8 * K, 8 * K, NONE)
    });
    // RANGE with an empty window.
    expect_fail(&mut mm, inval, |mm| {
        mm.alloc_blocks(8 * M, 4 * M, 4 * K, 4 * K, AllocFlags::RANGE)
    });
    // Typed API: modes in flags, empty windows.
    let req = BuddyRequest::new(4 * K, 4 * K)
        .unwrap()
        .flags(AllocFlags::TOPDOWN);
    expect_fail(&mut mm, inval, |mm| mm.alloc(&req));
    let req = BuddyRequest::new(4 * K, 4 * K)
        .unwrap()
        .window(Window::Range(M..M));
    expect_fail(&mut mm, inval, |mm| mm.alloc(&req));
    assert_eq!(Pow2::new(0), Err(inval));
    assert!(mm.fini().is_ok());
}

#[test]
fn no_space_errors() {
    let mut mm = BuddyAllocator::new(M, 4 * K).unwrap();
    let all = mm.alloc_blocks(0, M, M, 4 * K, NONE).unwrap();
    assert_eq!(mm.avail(), 0);
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, 4 * K, 4 * K, NONE)
    });
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, 4 * K, 4 * K, AllocFlags::RANGE)
    });
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(0, M, 8 * K, 4 * K, AllocFlags::CONTIGUOUS)
    });
    free_all(&mut mm, all);
    // A range too narrow for an aligned slot.
    let _ = mm
        .alloc_blocks(0, M, 4 * K, 4 * K, NONE)
        .map(|b| free_all(&mut mm, b));
    expect_fail(&mut mm, Error::NoSpace, |mm| {
        mm.alloc_blocks(4 * K, 24 * K, 16 * K, 16 * K, AllocFlags::RANGE)
    });
}

#[test]
fn free_into_another_allocator_is_rejected() {
    let mut a = BuddyAllocator::new(M, 4 * K).unwrap();
    let mut b = BuddyAllocator::new(M, 4 * K).unwrap();
    let x = a.alloc_blocks(0, M, 4 * K, 4 * K, NONE).unwrap();
    let y = b.alloc_blocks(0, M, 4 * K, 4 * K, NONE).unwrap();
    let before = snapshot(&b);
    assert_eq!(
        b.free_blocks(x, FreeFlags::empty()),
        Err(Error::InvalidArgument)
    );
    assert_eq!(snapshot(&b), before);
    let mut y = y;
    let mut other = a.alloc_blocks(0, M, 8 * K, 8 * K, NONE).unwrap();
    assert_eq!(
        b.block_trim(&mut other, None, 4 * K),
        Err(Error::InvalidArgument)
    );
    assert_eq!(other.len(), 1);
    b.free_block(y.pop().unwrap(), FreeFlags::empty()).unwrap();
    a.free_blocks(other, FreeFlags::empty()).unwrap();
    let leak = a.fini().unwrap_err();
    assert_eq!(
        (leak.n_blocks, leak.bytes, leak.blocks),
        (1, 4 * K, [(M - 4 * K, 4 * K)].to_vec())
    );
    assert!(b.fini().is_ok());
}

#[test]
fn block_trim_errors_and_results() {
    let mut mm = BuddyAllocator::new(M, 4 * K).unwrap();
    let inval = Err(Error::InvalidArgument);
    let mut two = mm
        .alloc_blocks(0, M, 8 * K, 4 * K, AllocFlags::TOPDOWN)
        .unwrap();
    two.extend(mm.alloc_blocks(0, M, 8 * K, 4 * K, NONE).unwrap());
    assert_eq!(
        mm.block_trim(&mut two, None, 4 * K),
        inval,
        "not exactly one block"
    );
    free_all(&mut mm, two);
    let mut none = Vec::new();
    assert_eq!(mm.block_trim(&mut none, None, 4 * K), inval);
    let mut b = mm.alloc_blocks(0, M, 64 * K, 64 * K, NONE).unwrap();
    let base = b[0].offset();
    assert_eq!(base, M - 64 * K);
    let before = snapshot(&mm);
    assert_eq!(
        mm.block_trim(&mut b, None, 128 * K),
        inval,
        "larger than the block"
    );
    assert_eq!(mm.block_trim(&mut b, None, 0), inval);
    assert_eq!(
        mm.block_trim(&mut b, None, 6 * K),
        inval,
        "not chunk-aligned"
    );
    assert_eq!(
        mm.block_trim(&mut b, Some(base - 4 * K), 4 * K),
        inval,
        "start below"
    );
    assert_eq!(
        mm.block_trim(&mut b, Some(base + 2 * K), 4 * K),
        inval,
        "start misaligned"
    );
    assert_eq!(
        mm.block_trim(&mut b, Some(base + 60 * K), 8 * K),
        inval,
        "overflows"
    );
    assert_eq!(
        mm.block_trim(&mut b, Some(base + 64 * K), 4 * K),
        inval,
        "start at end"
    );
    assert_eq!(
        mm.block_trim(&mut b, Some(0), 64 * K),
        Ok(()),
        "same size: no-op"
    );
    assert_eq!(snapshot(&mm), before);
    mm.block_trim(&mut b, Some(base + 4 * K), 20 * K).unwrap();
    assert_eq!(
        spans(&b),
        [
            (base + 4 * K, 4 * K),
            (base + 8 * K, 8 * K),
            (base + 16 * K, 8 * K)
        ]
    );
    assert_eq!(mm.avail(), M - 20 * K);
    mm.check().unwrap();
    mm.free_blocks(b, FreeFlags::CLEARED).unwrap();
    mm.check().unwrap();
    assert_eq!(mm.clear_avail(), 20 * K);
    mm.reset_clear(false);
    assert!(mm.fini().is_ok());
}

#[test]
fn injected_metadata_failure_at_every_point_changes_nothing() {
    let reqs: &[(u64, u64, u64, u64, AllocFlags)] = &[
        (0, 16 * M, 3 * 4 * K, 4 * K, AllocFlags::CONTIGUOUS),
        (0, 16 * M, 5 * M + 12 * K, 4 * K, NONE),
        (0, 16 * M, 5 * M, 2 * M, NONE),
        (4 * K, 4 * M + 4 * K, 4 * M, 4 * K, NONE),
        (
            M,
            9 * M,
            44 * K,
            4 * K,
            AllocFlags::RANGE | AllocFlags::CLEAR,
        ),
        (0, 16 * M, 8 * K, 256 * K, AllocFlags::TOPDOWN),
        (0, 16 * M, 9 * M, 4 * K, AllocFlags::CONTIGUOUS),
    ];
    let mut n_split_heavy = 0;
    for &(start, end, size, min, flags) in reqs {
        let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
        // Mixed clear/dirty fragments so that force-merge and try-harder run too.
        let mut clear = Vec::new();
        let hole = mm
            .alloc_blocks(12 * M, 12 * M + 4 * K, 4 * K, 4 * K, NONE)
            .unwrap();
        for _ in 0..8 {
            clear.push(
                mm.alloc_blocks(0, 16 * M, 4 * K, 4 * K, AllocFlags::RANGE)
                    .unwrap(),
            );
        }
        for (i, b) in clear.into_iter().enumerate() {
            let f = if i % 3 == 0 {
                FreeFlags::CLEARED
            } else {
                FreeFlags::empty()
            };
            mm.free_blocks(b, f).unwrap();
        }
        mm.check().unwrap();
        let mut points = 0;
        for n in 0.. {
            let before = snapshot(&mm);
            mm.set_fail_alloc_after(Some(n));
            let got = mm.alloc_blocks(start, end, size, min, flags);
            mm.set_fail_alloc_after(None);
            mm.check().unwrap();
            match got {
                Err(Error::OutOfMemory) => {
                    assert_eq!(
                        snapshot(&mm),
                        before,
                        "OOM after {n} splits changed the allocator"
                    );
                    points += 1;
                }
                Ok(blocks) => {
                    let total: u64 = blocks.iter().map(|b| b.size()).sum();
                    assert_eq!(total, size);
                    free_all(&mut mm, blocks);
                    break;
                }
                Err(e) => panic!("unexpected {e:?} for {size:#x}"),
            }
        }
        n_split_heavy += usize::from(points > 0);
        free_all(&mut mm, hole);
        mm.reset_clear(false);
        assert!(mm.fini().is_ok());
    }
    assert!(
        n_split_heavy >= 5,
        "only {n_split_heavy} requests needed a split"
    );
}

// ---- dumps ----------------------------------------------------------------------------------

#[test]
fn print_matches_the_kernel_format() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let page = mm.alloc_blocks(0, 16 * M, 4 * K, 4 * K, NONE).unwrap();
    let want = "chunk_size: 4KiB, total: 16MiB, free: 15MiB, clear_free: 0MiB\n\
                order-12 free:        0 KiB, blocks: 0\n\
                order-11 free:        8 MiB, blocks: 1\n\
                order-10 free:        4 MiB, blocks: 1\n\
                order- 9 free:        2 MiB, blocks: 1\n\
                order- 8 free:        1 MiB, blocks: 1\n\
                order- 7 free:      512 KiB, blocks: 1\n\
                order- 6 free:      256 KiB, blocks: 1\n\
                order- 5 free:      128 KiB, blocks: 1\n\
                order- 4 free:       64 KiB, blocks: 1\n\
                order- 3 free:       32 KiB, blocks: 1\n\
                order- 2 free:       16 KiB, blocks: 1\n\
                order- 1 free:        8 KiB, blocks: 1\n\
                order- 0 free:        4 KiB, blocks: 1\n";
    assert_eq!(dump(&mm), want);
    let mut line = String::new();
    mm.block_print(&page[0], &mut line).unwrap();
    assert_eq!(line, "0x0000000000fff000-0x0000000001000000: 4096\n");
    mm.free_blocks(page, FreeFlags::CLEARED).unwrap();
    let low = mm
        .alloc_blocks(0, 16 * M, 4 * K, 4 * K, AllocFlags::RANGE)
        .unwrap();
    line.clear();
    mm.block_print(&low[0], &mut line).unwrap();
    assert_eq!(line, "0x0000000000000000-0x0000000000001000: 4096\n");
    let text = dump(&mm);
    assert!(text.starts_with("chunk_size: 4KiB, total: 16MiB, free: 15MiB, clear_free: 0MiB\n"));
    free_all(&mut mm, low);
    mm.reset_clear(true);
    assert_eq!(
        dump(&mm).lines().next(),
        Some("chunk_size: 4KiB, total: 16MiB, free: 16MiB, clear_free: 16MiB")
    );
    assert!(dump(&mm).contains("order-12 free:       16 MiB, blocks: 1\n"));
}

#[test]
fn per_order_used_counts() {
    let mut mm = BuddyAllocator::new(16 * M, 4 * K).unwrap();
    let b = mm.alloc_blocks(0, 16 * M, 5 * M, 2 * M, NONE).unwrap();
    assert_eq!(
        (
            mm.n_used_blocks(10),
            mm.n_used_blocks(8),
            mm.n_used_blocks(9)
        ),
        (1, 1, 0)
    );
    assert_eq!(mm.n_used_blocks(60), 0);
    assert_eq!(mm.n_free_blocks(60), 0);
    free_all(&mut mm, b);
    assert_eq!(mm.n_used_blocks(10), 0);
}

#[test]
fn larger_chunks_and_appending_variants() {
    let mut mm = BuddyAllocator::new(3 * M + 100 * K, 64 * K).unwrap();
    assert_eq!(mm.size(), 3 * M + 64 * K, "rounded down to the chunk");
    assert_eq!(
        mm.roots().collect::<Vec<_>>(),
        [(0, 2 * M), (2 * M, M), (3 * M, 64 * K)]
    );
    assert_eq!(mm.max_order(), 5);
    expect_fail(&mut mm, Error::InvalidArgument, |mm| {
        mm.alloc_blocks(0, 3 * M, 32 * K, 64 * K, NONE)
    });
    let mut list = mm.alloc_blocks(0, 3 * M, 64 * K, 64 * K, NONE).unwrap();
    assert_eq!(
        spans(&list),
        [(3 * M, 64 * K)],
        "best fit: the order-0 root"
    );
    // Appending keeps what the caller had; a failure leaves the list untouched.
    mm.alloc_blocks_into(0, 3 * M, 192 * K, 64 * K, AllocFlags::RANGE, &mut list)
        .unwrap();
    assert_eq!(
        spans(&list),
        [(3 * M, 64 * K), (0, 128 * K), (128 * K, 64 * K)]
    );
    let before = spans(&list);
    let big = BuddyRequest::new(4 * M, 64 * K).unwrap();
    assert_eq!(mm.alloc_into(&big, &mut list), Err(Error::InvalidArgument));
    let huge = BuddyRequest::new(3 * M, 64 * K).unwrap();
    assert_eq!(mm.alloc_into(&huge, &mut list), Err(Error::NoSpace));
    assert_eq!(spans(&list), before);
    mm.check().unwrap();
    // free_list empties the vector and keeps its capacity.
    let cap = list.capacity();
    mm.free_list(&mut list, FreeFlags::CLEARED).unwrap();
    assert!(list.is_empty() && list.capacity() == cap);
    assert_eq!((mm.avail(), mm.clear_avail()), (mm.size(), 256 * K));
    mm.check().unwrap();
    let mut line = String::new();
    let top = mm
        .alloc(
            &BuddyRequest::new(64 * K, 64 * K)
                .unwrap()
                .window(Window::TopDown),
        )
        .unwrap();
    mm.block_print(&top[0], &mut line).unwrap();
    // Plain requests prefer dirty memory: the top of the dirty 1 MiB root, not the
    // clear 64 KiB root above it.
    assert_eq!(line, "0x00000000002f0000-0x0000000000300000: 65536\n");
    assert!(!top[0].is_clear());
    free_all(&mut mm, top);
    assert!(dump(&mm).starts_with("chunk_size: 64KiB, total: 3MiB, free: 3MiB, clear_free: 0MiB\n"));
}
