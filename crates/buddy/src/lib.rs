//! pddgpu-buddy: the VRAM buddy allocator of pddgpu, with the semantics of Linux
//! `gpu_buddy`/`drm_buddy` (Linux 7.1–7.3).
//!
//! # Overview
//!
//! [`BuddyAllocator`] manages `[0, size)` bytes in power-of-two *blocks* of
//! `chunk_size << order`. It only does bookkeeping: it never touches the memory it
//! manages, and it hands out [`Block`] tokens that the caller owns until it gives them
//! back with [`free_block`](BuddyAllocator::free_block) or
//! [`free_blocks`](BuddyAllocator::free_blocks). A block can be freed only once (the
//! token is consumed) and only into the allocator that made it.
//!
//! A size that is not a power of two is covered by several *roots*, its binary
//! decomposition with the largest at offset 0 (10 GiB → 8 GiB@0 + 2 GiB@8 GiB). Blocks
//! never merge across roots. Allocation splits a free block in halves until it has the
//! wanted order; freeing merges a block with its *buddy* (the other half of its
//! parent) while that is free.
//!
//! Placement follows upstream exactly, so a DRM engineer can predict every offset:
//!
//! - default: the smallest sufficient order, the highest block within it, split keeping
//!   the upper half (a fresh allocator hands out memory from the top);
//! - [`Window::TopDown`] / [`AllocFlags::TOPDOWN`]: the highest block across all
//!   sufficient orders;
//! - [`Window::Range`] / [`AllocFlags::RANGE`]: the lowest address inside the window;
//!   a window exactly the size of the request allocates exactly that span (used for
//!   reservations);
//! - a power-of-two size below `min_block_size` is placed at a `min_block_size`-aligned
//!   offset without rounding (offset-aligned allocation);
//! - non-contiguous requests are served greedily by the largest blocks that fit, never
//!   smaller than `min_block_size`, then trimmed back to the requested size;
//!   [`AllocFlags::CONTIGUOUS`] rounds to a power of two and, if that fails, searches
//!   for an exact-size range spanning several free blocks (*try harder*, with the 2026
//!   alignment fix, CVE-2026-72244).
//!
//! Every block carries a *clear* bit (contents known zero): [`FreeFlags::CLEARED`]
//! frees blocks as clear, [`AllocFlags::CLEAR`] prefers clear blocks, allocated blocks
//! report [`Block::is_clear`] so callers can skip zeroing. Clear and dirty buddies are
//! not merged on free; when a request fails for want of a large block,
//! *force-merge* joins mixed buddies into dirty blocks.
//! [`reset_clear`](BuddyAllocator::reset_clear) marks all free memory clear or dirty.
//!
//! # Cost
//!
//! Block metadata is a compact arena of 24-byte nodes linked by index (no heap
//! allocation per block; the arena grows fallibly). Free blocks are indexed per order
//! in sparse 64-ary radix trees of bitmaps over block numbers, one bitmap per clear
//! state (upstream: one rbtree per order and clear state), with the highest block of
//! every order cached: best fit is O(1), top-down O(orders), range, force-merge and
//! try-harder lookups O(orders × levels) with at most 9 levels (4 for a 16 GiB heap of
//! 4 KiB chunks), independent of how many blocks exist (upstream walks an rbtree per
//! order and serves ranges by a DFS over the block tree). Every block carries its radix
//! leaf, so entering or leaving the index is O(1) plus a climb while bitmap words turn
//! empty or non-empty; splits and merges are O(1) each plus that. The radix nodes (280
//! bytes per 64 block numbers of one order) are allocated when a block number is first
//! used and kept, so frees never allocate. Force-merge and try-harder are slow paths,
//! as upstream.
//!
//! # Errors and robustness
//!
//! Bad input is [`Error::InvalidArgument`] (`-EINVAL`), lack of space
//! [`Error::NoSpace`] (`-ENOSPC`), failed metadata allocation [`Error::OutOfMemory`]
//! (`-ENOMEM`); nothing panics on caller input. Every allocation is journaled and a
//! failed call is undone completely: the allocator is exactly as before.
//! With the test-only `fault-injection` feature, `BuddyAllocator::set_fail_alloc_after`
//! injects metadata allocation failures.
//!
//! # Locking
//!
//! None: mutating calls take `&mut self`. The VRAM manager holds the allocator under its
//! own lock; internal locking would be redundant.
//!
//! # Debugging
//!
//! [`check`](BuddyAllocator::check) re-derives every invariant;
//! [`print`](BuddyAllocator::print) and [`block_print`](BuddyAllocator::block_print)
//! write the kernel's text format byte for byte; [`fini`](BuddyAllocator::fini) reports
//! leaked blocks.
//!
//! # Examples
//! ```
//! use pddgpu_buddy::{AllocFlags, BuddyAllocator, FreeFlags};
//! const MIB: u64 = 1 << 20;
//! let mut vram = BuddyAllocator::new(16 * MIB, 4096)?;
//! let blocks = vram.alloc_blocks(0, 16 * MIB, 5 * MIB, 2 * MIB, AllocFlags::empty())?;
//! // Rounded to 6 MiB, served as 4 MiB + 2 MiB, the last trimmed by 1 MiB.
//! let sizes: Vec<_> = blocks.iter().map(|b| b.size()).collect();
//! assert_eq!(sizes, [4 * MIB, MIB]);
//! assert_eq!(vram.avail(), 11 * MIB);
//! vram.free_blocks(blocks, FreeFlags::CLEARED)?;
//! assert_eq!((vram.avail(), vram.clear_avail()), (16 * MIB, 5 * MIB));
//! vram.check().expect("consistent");
//! # Ok::<(), pddgpu_buddy::Error>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod allocator;
mod arena;
mod block;
mod check;
mod error;
mod flags;
mod index;
mod place;
mod print;
mod request;
mod search;
mod state;

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use allocator::{BuddyAllocator, MIN_CHUNK_SIZE};
pub use block::{Block, BlockInfo, BlockState};
pub use error::{CheckError, Error, Leak, Result, EINVAL, ENOMEM, ENOSPC};
pub use flags::{AllocFlags, FreeFlags};
pub use request::{BuddyRequest, Pow2, Window};
