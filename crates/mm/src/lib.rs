//! pddgpu-mm: the range allocator of pddgpu (GTT), with the semantics of Linux `drm_mm`.
//!
//! # Overview
//!
//! [`Mm`] manages a range of caller units `[start, start + size)` (the GTT manager uses
//! GART pages) and hands out [`Node`]s: owned tokens for allocated sub-ranges. It does
//! not know what the units are; it only does the bookkeeping of which ranges are in use.
//!
//! Free space is kept as *holes*: a hole is the gap after a node and belongs to that
//! node; the hole at the bottom of the range belongs to a head sentinel whose start is
//! the range end and whose size is the negated range size, so "the hole after the head"
//! needs no special case (upstream's trick). Holes are indexed three ways:
//!
//! - by size (exact-size lists, most recent first, for holes below 4096 units, found in
//!   O(1) through a two-level bitmap; a treap ordered by size then recency above; the
//!   largest hole in O(1)), for [`InsertMode::Best`];
//! - by address (a treap over the hole owners keyed by node end = hole start, augmented
//!   with the largest hole per subtree), for [`InsertMode::Low`]/[`InsertMode::High`]
//!   searches that skip whole subtrees without a large enough hole, for [`Mm::reserve`]
//!   and for [`Mm::nodes_in_range`];
//! - by recency (a stack, most recently created hole first), for [`InsertMode::Evict`]:
//!   removing a node merges the holes around it into one that goes on top.
//!
//! Node metadata lives in an arena inside the allocator, linked by index: no heap
//! allocation per node (the arena grows fallibly; failure is [`Error::OutOfMemory`] with
//! nothing changed). Alignment is absolute (on the address) and may be any value; an
//! optional colour callback ([`ColorAdjust`]) can keep nodes of different colours apart.
//!
//! # Cost
//!
//! Insert, reserve and remove are O(log n) expected (n = nodes); each hole rejected by
//! range, colour or alignment costs O(log n) more (O(1) for `Evict`). Scan add/remove
//! are O(1). [`Mm::check`] re-derives everything in O(n log n).
//!
//! The address tree's largest-hole augmentation serves only the searches that prune by
//! address (`Low`, `High` and their once-variants, `Best` in a sub-range). After a run
//! of updates without one it is maintained lazily (changed paths marked stale, each
//! path once) and recomputed by the next such search; `Best`/`Evict` churn and eviction
//! scans thus skip most augmentation walks, with identical results.
//!
//! # Locking
//!
//! None: `Mm` is a plain `Send + Sync` value mutated through `&mut`, so callers wrap it
//! in their own lock (the GTT and TTM range managers use one per manager); internal
//! locking would be fully redundant.
//!
//! # LRU scan roster
//!
//! To make room for a node when the range is full, evict the fewest nodes that free a
//! suitable window:
//!
//! 1. Open a scan with [`Mm::scan`] for the size, alignment, colour, range and mode of
//!    the node to insert. While it is open, the scan borrows the allocator: no other
//!    call compiles.
//! 2. Add candidate nodes in LRU order with [`Scan::add_block`], remembering the order,
//!    until it returns `true` (a window exists now).
//! 3. Remove *every* added node with [`Scan::remove_block`] in exactly the reverse
//!    order of addition (out of order is [`Error::InvalidArgument`]); it returns `true`
//!    for the nodes that overlap the window: keep those, forget the others.
//! 4. [`Scan::finish`] gives the [`ScanResult`] (dropping or finishing a scan with blocks
//!    still added restores them).
//! 5. Evict (remove) the kept nodes. With a colour callback, call [`Mm::color_evict`]
//!    and evict what it names until it returns `None`.
//! 6. Insert with [`InsertMode::Evict`]: the merged hole is the most recent one, so the
//!    node lands exactly at [`ScanResult::hit_start`].
//!
//! ```
//! use pddgpu_mm::{InsertMode, Mm};
//! let mut mm = Mm::new(0, 8)?;
//! let mut lru: Vec<_> = (0..8).map(|i| mm.reserve(i, 1, 0)).collect::<Result<_, _>>()?;
//! let mut scan = mm.scan(2, 2, 0, 0, 8, InsertMode::Best)?;
//! let mut added = Vec::new();
//! for (i, node) in lru.iter().enumerate() {
//!     added.push(i);
//!     if scan.add_block(node)? { break; }
//! }
//! let mut evict = Vec::new();
//! for &i in added.iter().rev() {
//!     if scan.remove_block(&lru[i])? { evict.push(i); }
//! }
//! let hit = scan.finish();
//! assert_eq!((hit.hit_start, hit.hit_end), (0, 2));
//! evict.sort_unstable();
//! for i in evict.into_iter().rev() { mm.remove(lru.remove(i))?; }
//! let node = mm.insert(2, 2, 0, InsertMode::Evict)?;
//! assert_eq!(node.start(), 0);
//! # lru.push(node);
//! # for n in lru { mm.remove(n)?; }
//! # Ok::<(), pddgpu_mm::Error>(())
//! ```
//!
//! # Debugging aids
//!
//! [`Mm::print`] writes the kernel's `drm_mm_print` format; [`Mm::check`] verifies every
//! index against a recomputation; [`Mm::fini`] reports leaked nodes.

#![no_std]
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod buckets;
mod error;
mod mm;
mod scan;
mod slot;
mod tree;

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[derive(Debug)]
pub struct ReadmeDoctests;

pub use error::{CheckError, Error, Leak, Result};
pub use mm::{ColorAdjust, InsertMode, Mm, Node, NodeInfo};
pub use scan::{Scan, ScanResult};
