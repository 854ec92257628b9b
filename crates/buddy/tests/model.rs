//! Property test against a simple per-chunk model: random alloc/free/trim/reset
//! sequences (and injected metadata failures), `check()` after every step, no overlap,
//! `avail`/`clear_avail` exact, errors as the model predicts, failed calls change
//! nothing.

// Helpers outside #[test] functions: a failed unwrap is still a failed test.
#![allow(clippy::unwrap_used)]

use pddgpu_buddy::{AllocFlags, Block, BlockState, BuddyAllocator, Error, FreeFlags};
use proptest::prelude::*;

const CHUNK: u64 = 4096;

#[derive(Debug, Clone)]
enum Op {
    Alloc {
        mode: u8,
        pages: u64,
        min_shift: u32,
        start: u64,
        len: u64,
        flags: u8,
        fail_after: Option<u64>,
    },
    Free {
        pick: usize,
        cleared: bool,
    },
    Trim {
        pick: usize,
        skip: u64,
        pages: u64,
    },
    Reset(bool),
}

fn op(n_pages: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..4, 1u64..48, 0u32..6, 0..n_pages, 1..n_pages, 0u8..16,
              prop_oneof![6 => Just(None), 1 => (0u64..6).prop_map(Some)])
            .prop_map(|(mode, pages, min_shift, start, len, flags, fail_after)| Op::Alloc {
                mode, pages, min_shift, start, len, flags, fail_after
            }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, cleared)| Op::Free { pick, cleared }),
        1 => (any::<usize>(), 0u64..16, 1u64..16).prop_map(|(pick, skip, pages)| Op::Trim { pick, skip, pages }),
        1 => any::<bool>().prop_map(Op::Reset),
    ]
}

/// Per chunk: `None` = allocated, `Some(clear)` = free.
struct Model {
    chunks: Vec<Option<bool>>,
}

impl Model {
    fn free_bytes(&self) -> u64 {
        self.chunks.iter().filter(|c| c.is_some()).count() as u64 * CHUNK
    }
    fn clear_bytes(&self) -> u64 {
        self.chunks.iter().filter(|c| **c == Some(true)).count() as u64 * CHUNK
    }
    fn range(b: &Block) -> std::ops::Range<usize> {
        (b.offset() / CHUNK) as usize..(b.end() / CHUNK) as usize
    }
}

/// Per-chunk state of the allocator.
fn observe(mm: &BuddyAllocator) -> Vec<Option<bool>> {
    let mut out = Vec::new();
    mm.for_each_block(|b| {
        let state = match b.state {
            BlockState::Free => Some(b.clear),
            BlockState::Allocated => None,
        };
        out.extend(std::iter::repeat(state).take((b.size / CHUNK) as usize));
    });
    out
}

fn snapshot(mm: &BuddyAllocator) -> (Vec<pddgpu_buddy::BlockInfo>, String) {
    let mut leaves = Vec::new();
    mm.for_each_block(|b| leaves.push(b));
    let mut text = String::new();
    mm.print(&mut text).unwrap();
    (leaves, text)
}

/// What upstream's validation and rounding say about a request: `Err` for
/// `InvalidArgument`, else `(exact, rounded size, try_harder_possible)`.
fn predict(
    size_mm: u64,
    max_order: u32,
    start: u64,
    end: u64,
    size: u64,
    min: u64,
    flags: AllocFlags,
) -> Result<(bool, u64), Error> {
    let inval = Err(Error::InvalidArgument);
    if size < CHUNK
        || min < CHUNK
        || !min.is_power_of_two()
        || (start | end | size) % CHUNK != 0
        || end > size_mm
        || start >= size_mm
        || size > size_mm - start
    {
        return inval;
    }
    if start + size == end {
        return if (start | end) % min != 0 {
            inval
        } else {
            Ok((true, size))
        };
    }
    let range = flags.contains(AllocFlags::RANGE);
    if range && end <= start {
        return inval;
    }
    let contiguous = flags.contains(AllocFlags::CONTIGUOUS);
    let rounded = if contiguous {
        size.next_power_of_two()
    } else if size < min && size.is_power_of_two() {
        size
    } else {
        size.div_ceil(min) * min
    };
    let order = 63 - (rounded / CHUNK).leading_zeros();
    if order > max_order || rounded > size_mm {
        return if contiguous && !range {
            Ok((false, size))
        } else {
            inval
        };
    }
    Ok((false, rounded))
}

fn run(size_mm: u64, ops: Vec<Op>) {
    let mut mm = BuddyAllocator::new(size_mm, CHUNK).unwrap();
    let n = (size_mm / CHUNK) as usize;
    let mut model = Model {
        chunks: vec![Some(false); n],
    };
    let mut live: Vec<Vec<Block>> = Vec::new();
    for op in ops {
        match op {
            Op::Alloc {
                mode,
                pages,
                min_shift,
                start,
                len,
                flags,
                fail_after,
            } => {
                let size = pages * CHUNK;
                let min = CHUNK << min_shift;
                let mut f = AllocFlags::empty();
                if flags & 1 != 0 {
                    f |= AllocFlags::CONTIGUOUS
                }
                if flags & 2 != 0 {
                    f |= AllocFlags::CLEAR
                }
                if flags & 4 != 0 {
                    f |= AllocFlags::TRIM_DISABLE
                }
                let (s, e) = match mode {
                    0 => (0, size_mm),
                    1 => {
                        f |= AllocFlags::RANGE;
                        (start * CHUNK, ((start + len) * CHUNK).min(size_mm))
                    }
                    2 => {
                        f |= AllocFlags::TOPDOWN;
                        (0, size_mm)
                    }
                    _ => (start * CHUNK, (start * CHUNK + size).min(size_mm)),
                };
                let prediction = predict(size_mm, mm.max_order(), s, e, size, min, f);
                let before = snapshot(&mm);
                let before_chunks = model.chunks.clone();
                mm.set_fail_alloc_after(fail_after);
                let got = mm.alloc_blocks(s, e, size, min, f);
                mm.set_fail_alloc_after(None);
                mm.check().unwrap();
                match (got, prediction) {
                    (Err(Error::InvalidArgument), Err(Error::InvalidArgument)) => {
                        assert_eq!(snapshot(&mm), before)
                    }
                    (Err(err), Ok((exact, _))) => {
                        assert!(
                            err == Error::NoSpace
                                || (err == Error::OutOfMemory && fail_after.is_some()),
                            "{err:?}"
                        );
                        assert_eq!(snapshot(&mm), before, "failed call changed the allocator");
                        if exact && err == Error::NoSpace {
                            let r = (s / CHUNK) as usize..(e / CHUNK) as usize;
                            assert!(
                                model.chunks[r].iter().any(|c| c.is_none()),
                                "exact range was free"
                            );
                        }
                    }
                    (Ok(blocks), Ok((exact, rounded))) => {
                        let total: u64 = blocks.iter().map(|b| b.size()).sum();
                        let want_trimmed = if f.contains(AllocFlags::TRIM_DISABLE) && !exact {
                            rounded
                        } else {
                            size
                        };
                        assert!(
                            total == want_trimmed
                                || (f.contains(AllocFlags::CONTIGUOUS) && total == size),
                            "total {total:#x} want {want_trimmed:#x}"
                        );
                        let mut sorted: Vec<(u64, u64)> =
                            blocks.iter().map(|b| (b.offset(), b.end())).collect();
                        sorted.sort();
                        for b in &blocks {
                            assert_eq!(b.offset() % b.size(), 0, "natural alignment");
                            assert!(b.end() <= size_mm);
                            if f.contains(AllocFlags::RANGE) || exact {
                                assert!(b.offset() >= s && b.end() <= e, "outside the window");
                            }
                            if b.is_clear() {
                                assert!(
                                    before_chunks[Model::range(b)]
                                        .iter()
                                        .all(|c| *c == Some(true)),
                                    "clear block over dirty memory"
                                );
                            }
                            for c in &mut model.chunks[Model::range(b)] {
                                assert!(c.is_some(), "overlap with a live block");
                                *c = None;
                            }
                        }
                        if f.contains(AllocFlags::CONTIGUOUS) || exact {
                            assert!(
                                sorted.windows(2).all(|w| w[0].1 == w[1].0),
                                "not contiguous"
                            );
                        }
                        if !f.contains(AllocFlags::RANGE)
                            && !exact
                            && size < min
                            && size.is_power_of_two()
                            && !f.contains(AllocFlags::CONTIGUOUS)
                        {
                            assert_eq!(blocks[0].offset() % min, 0, "offset-aligned");
                        }
                        live.push(blocks);
                    }
                    (got, want) => panic!("got {:?}, predicted {want:?}", got.map(|b| b.len())),
                }
                // Force-merge may turn clear free memory dirty, never the reverse.
                let seen = observe(&mm);
                for (m, o) in model.chunks.iter_mut().zip(&seen) {
                    match (*m, *o) {
                        (None, None) => {}
                        (Some(true), Some(false)) => *m = Some(false),
                        (a, b) => assert_eq!(a, b, "model and allocator disagree"),
                    }
                }
            }
            Op::Free { pick, cleared } => {
                if live.is_empty() {
                    continue;
                }
                let blocks = live.swap_remove(pick % live.len());
                for b in &blocks {
                    for c in &mut model.chunks[Model::range(b)] {
                        *c = Some(cleared)
                    }
                }
                let flags = if cleared {
                    FreeFlags::CLEARED
                } else {
                    FreeFlags::empty()
                };
                mm.free_blocks(blocks, flags).unwrap();
                assert_eq!(observe(&mm), model.chunks);
            }
            Op::Trim { pick, skip, pages } => {
                if live.is_empty() {
                    continue;
                }
                let i = pick % live.len();
                if live[i].len() != 1 {
                    continue;
                }
                let (off, bsize) = (live[i][0].offset(), live[i][0].size());
                let start = off + skip * CHUNK;
                let new = pages * CHUNK;
                let noop = new == bsize;
                let ok = noop || (new < bsize && start + new <= off + bsize);
                let before = snapshot(&mm);
                let got = mm.block_trim(&mut live[i], Some(start), new);
                if noop {
                    got.unwrap();
                } else if ok {
                    got.unwrap();
                    let keep = (start / CHUNK) as usize..((start + new) / CHUNK) as usize;
                    for c in (off / CHUNK) as usize..((off + bsize) / CHUNK) as usize {
                        if !keep.contains(&c) {
                            // The rest becomes free with the block's clear bit... which
                            // the model does not track for allocated chunks: read it.
                            model.chunks[c] = observe(&mm)[c];
                            assert!(model.chunks[c].is_some());
                        }
                    }
                    assert_eq!(live[i].iter().map(|b| b.size()).sum::<u64>(), new);
                } else {
                    assert_eq!(got, Err(Error::InvalidArgument));
                    assert_eq!(snapshot(&mm), before);
                }
                assert_eq!(observe(&mm), model.chunks);
            }
            Op::Reset(clear) => {
                mm.reset_clear(clear);
                for c in model.chunks.iter_mut().flatten() {
                    *c = clear
                }
                assert_eq!(observe(&mm), model.chunks);
            }
        }
        mm.check().unwrap();
        assert_eq!(mm.avail(), model.free_bytes());
        assert_eq!(mm.clear_avail(), model.clear_bytes());
    }
    for blocks in live {
        mm.free_blocks(blocks, FreeFlags::empty()).unwrap();
    }
    mm.check().unwrap();
    assert_eq!(mm.avail(), size_mm);
    mm.reset_clear(false);
    assert!(mm.fini().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pow2_heap_matches_the_model(ops in prop::collection::vec(op(256), 1..120)) {
        run(1 << 20, ops);
    }

    #[test]
    fn multi_root_heap_matches_the_model(ops in prop::collection::vec(op(360), 1..120)) {
        // 1 MiB + 256 KiB + 128 KiB + 56 KiB: four roots.
        run((1 << 20) + (256 << 10) + (128 << 10) + (56 << 10), ops);
    }
}
