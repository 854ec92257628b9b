//! The range allocator proper: holes, nodes, insert/reserve/remove, iteration, print
//! and the invariant checker.
//!
//! File order as upstream `drm_mm.c`: hole bookkeeping (the only functions that change
//! a hole together with its three indexes), slot arena, the fitting logic shared with
//! the scan, the hole searches of each mode, the public entry points, then
//! print/check/fini.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use crate::buckets::{Buckets, SMALL};
use crate::error::{CheckError, Error, Leak, Result};
use crate::slot::{Slot, State, HEAD, NIL};
use crate::tree::{self, AddrTree, SizeTree, Tree};

/// How [`Mm::insert_in_range`] chooses among the holes (upstream `enum drm_mm_insert_mode`).
///
/// In every mode a hole is a *candidate* only if, after `color_adjust`, the clamp to the
/// requested range and alignment, `size` units still fit; the first candidate in the
/// mode's order wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertMode {
    /// The smallest hole that fits (among equal sizes the most recently created one);
    /// larger holes are tried in increasing size. Node at the bottom of the hole,
    /// alignment rounds up. Upstream `DRM_MM_INSERT_BEST`.
    Best,
    /// The lowest-addressed hole that fits; node at the bottom, alignment rounds up.
    /// Upstream `DRM_MM_INSERT_LOW`.
    Low,
    /// The highest-addressed hole that fits; node at the *top* of the hole, alignment
    /// rounds *down*. Upstream `DRM_MM_INSERT_HIGH`.
    High,
    /// The most recently created hole first (the hole stack), so that an insert right
    /// after a scan-driven eviction lands in the freed window. Node at the bottom.
    /// Upstream `DRM_MM_INSERT_EVICT`.
    Evict,
    /// As [`Low`](Self::Low), but only the first hole large enough by size is examined;
    /// if range, colour or alignment reject it the insert fails. Upstream
    /// `DRM_MM_INSERT_LOWEST`.
    Lowest,
    /// As [`High`](Self::High), examining only the first hole (from the top) large
    /// enough by size. Upstream `DRM_MM_INSERT_HIGHEST`.
    Highest,
}

/// A snapshot of an allocated node: what iteration, `color_adjust` and leak reports see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// First unit of the node.
    pub start: u64,
    /// Number of units.
    pub size: u64,
    /// The colour given at insertion.
    pub color: u64,
}

/// Colour callback (upstream `drm_mm.color_adjust`).
///
/// Called with the node before the hole (`None`: the hole starts at the range start),
/// the node after it (`None`: the hole ends at the range end), the colour of the node
/// being placed, and the hole bounds, which it may shrink (e.g. a guard page next to a
/// node of another colour). It runs before the range clamp and before alignment, in
/// inserts, reserves, scans and [`Mm::color_evict`]. It must not panic; it cannot reach
/// the allocator (it holds no reference to it).
pub type ColorAdjust =
    Box<dyn Fn(Option<&NodeInfo>, Option<&NodeInfo>, u64, &mut u64, &mut u64) + Send + Sync>;

/// An allocated range: the owned token for one node of one [`Mm`].
///
/// Not `Clone`: the only way to free the range is to give the token back with
/// [`Mm::remove`], which consumes it, so a double free cannot be written. A token that
/// is dropped instead leaks its range, which [`Mm::fini`] reports. Start, size and
/// colour never change while the node is allocated, so they are readable without the
/// allocator.
#[must_use = "a node must be given back with Mm::remove, or its range leaks"]
#[derive(Debug, PartialEq, Eq)]
pub struct Node {
    mm: usize,
    index: u32,
    start: u64,
    size: u64,
    color: u64,
}

impl Node {
    /// First unit of the node.
    #[must_use]
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The node's slot in its allocator's arena.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Number of units.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The colour given at insertion.
    #[must_use]
    pub fn color(&self) -> u64 {
        self.color
    }

    /// One past the last unit (`start + size`, never overflows).
    #[must_use]
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    /// The node as a [`NodeInfo`].
    #[must_use]
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            start: self.start,
            size: self.size,
            color: self.color,
        }
    }
}

/// After this many inserts and removals without a search that prunes by the address
/// tree's largest-hole augmentation (`Low`, `High`, their once-variants, `Best` in a
/// sub-range), the augmentation is no longer kept exact on every change but only
/// marked stale, and recomputed in one pass by the next such search. A workload of
/// `Best`/`Evict` inserts (the common case, and the scan-evict cycle) then skips the
/// walk to the root on most hole changes; a workload that searches by address stays
/// exact and pays nothing extra.
pub(crate) const LAZY_AFTER: u32 = 32;

/// Identity of each allocator, so that a node given to the wrong one is rejected.
static NEXT_MM_ID: AtomicUsize = AtomicUsize::new(1);

/// A request after validation: what the fitting logic of inserts and scans needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub(crate) size: u64,
    /// 0 = none (upstream maps alignment 0 and 1 to 0).
    pub(crate) alignment: u64,
    /// `alignment - 1` for powers of two, else 0 (then a division is used).
    pub(crate) remainder_mask: u64,
    pub(crate) color: u64,
    pub(crate) range_start: u64,
    pub(crate) range_end: u64,
    /// Place at the top of the hole, rounding down (insert: High/Highest; scan: High).
    pub(crate) top: bool,
}

impl Request {
    pub(crate) fn new(
        size: u64,
        alignment: u64,
        color: u64,
        range_start: u64,
        range_end: u64,
        top: bool,
    ) -> Self {
        let alignment = if alignment <= 1 { 0 } else { alignment };
        let remainder_mask = if alignment.is_power_of_two() {
            alignment - 1
        } else {
            0
        };
        Self {
            size,
            alignment,
            remainder_mask,
            color,
            range_start,
            range_end,
            top,
        }
    }
}

/// The range allocator: upstream `struct drm_mm`.
///
/// Manages `[start, start + size)` in caller units. See the [crate docs](crate) for
/// the model (holes owned by the preceding node, indexes, costs, locking).
///
/// # Invariants
/// - Slot 0 is the head sentinel; the address list is circular through it, ascending.
/// - A node's `hole_size` is the gap to the next node (or the range end); it is non-zero
///   iff the node is in the size index (a bucket or the size treap), in the address
///   tree and on the hole stack.
/// - The address tree holds exactly the slots with a hole (the head included), with
///   `max_hole` correct per subtree.
/// - `used` is the sum of node sizes; `n_nodes` their number.
///
/// [`check`](Self::check) re-derives all of these.
pub struct Mm {
    id: usize,
    slots: Vec<Slot>,
    /// Free-slot list, linked through `Slot::next`.
    free_slot: u32,
    addr_root: u32,
    /// Holes of `SMALL` units or more, by size (a treap).
    size_root: u32,
    /// The largest hole in the size treap (its rightmost), kept for O(1) access.
    largest: u32,
    /// Holes smaller than `SMALL` units, by exact size.
    small: Buckets,
    /// Most recently added hole (top of the hole stack).
    stack_top: u32,
    /// The newest hole when its entry in the size index is deferred (`NIL`: none): a
    /// hole that changes owner or size again before any `Best` search, as the merged
    /// hole does while an eviction removes node after node, then costs no size-index
    /// work at all. It is stamped (`hole_seq`), in the address tree and on the hole
    /// stack, only not in a bucket or the size treap; every other size-index change
    /// and every `Best` search puts it there first, so the order is as if it never
    /// waited.
    pending: u32,
    /// Counter stamping each added hole, for the size tree's recency tie-break.
    hole_seq: u64,
    /// The address tree's augmentation is maintained lazily (stale paths marked, see
    /// `tree::mark`) rather than exactly: set after [`LAZY_AFTER`] updates without a
    /// search that needs it, cleared (and the tree cleaned) by the next such search.
    addr_lazy: bool,
    /// Updates since the last search that needed the address augmentation.
    addr_quiet: u32,
    used: u64,
    n_nodes: usize,
    /// Fault injection: node count at which `alloc_slot` starts failing.
    #[cfg(feature = "fault-injection")]
    max_nodes: usize,
    range_start: u64,
    range_end: u64,
    color_adjust: Option<ColorAdjust>,
}

impl fmt::Debug for Mm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mm")
            .field("start", &self.range_start)
            .field("end", &self.range_end)
            .field("used", &self.used)
            .field("n_nodes", &self.n_nodes)
            .field("color_adjust", &self.color_adjust.is_some())
            .finish_non_exhaustive()
    }
}

impl Mm {
    // --- hole bookkeeping: a hole and its three indexes change together --------------

    /// Counts an insert or removal towards [`LAZY_AFTER`].
    #[inline(always)]
    fn note_update(&mut self) {
        if !self.addr_lazy {
            self.addr_quiet += 1;
            if self.addr_quiet >= LAZY_AFTER {
                self.addr_lazy = true;
            }
        }
    }

    /// Makes the address tree's augmentation exact before a search that prunes by it,
    /// and keeps it exact from now on (until [`LAZY_AFTER`] updates without one).
    #[inline]
    fn addr_ready(&mut self) {
        self.addr_quiet = 0;
        if self.addr_lazy {
            tree::clean(&mut self.slots, self.addr_root);
            self.addr_lazy = false;
        }
    }

    /// Puts the hole after `i` (its `hole_size` already set and propagated) into the
    /// size tree and on top of the hole stack, as the most recent hole.
    #[inline]
    fn index_hole(&mut self, i: u32, defer: bool) {
        debug_assert!(
            self.slots[i as usize].hole_size != 0,
            "index_hole({i}) without a gap"
        );
        self.size_index(i, defer);
        self.stack_push(i);
    }

    /// Stamps the hole after `i` as the newest and puts it into the size index, after
    /// the deferred hole if any; with `defer` (removals, whose merged hole an eviction
    /// is likely to grow again at once) it becomes the deferred hole instead.
    #[inline(always)]
    fn size_index(&mut self, i: u32, defer: bool) {
        self.hole_seq += 1;
        self.slots[i as usize].hole_seq = self.hole_seq;
        self.flush_pending();
        self.pending = i;
        if !defer {
            self.flush_pending();
        }
    }

    /// Enters the deferred hole, if any, into the size index (it is the newest there).
    #[inline(always)]
    fn flush_pending(&mut self) {
        let i = self.pending;
        if i != NIL {
            self.pending = NIL;
            if self.slots[i as usize].hole_size < SMALL {
                self.small.push(&mut self.slots, i);
            } else {
                self.index_big_hole(i);
            }
        }
    }

    /// Puts the hole after `i` on top of the hole stack.
    #[inline(always)]
    fn stack_push(&mut self, i: u32) {
        // A local slice: its base and length stay in registers across the stores.
        let slots = &mut self.slots[..];
        let top = self.stack_top;
        let s = &mut slots[i as usize];
        s.stack_prev = NIL;
        s.stack_next = top;
        if top != NIL {
            slots[top as usize].stack_prev = i;
        }
        self.stack_top = i;
    }

    /// The size-treap half of [`size_index`](Self::size_index), kept out of line so that
    /// the bucket path stays small enough to inline.
    #[inline(never)]
    fn index_big_hole(&mut self, i: u32) {
        tree::insert::<SizeTree>(&mut self.slots, &mut self.size_root, i);
        if self.largest == NIL
            || SizeTree::cmp(&self.slots[i as usize], &self.slots[self.largest as usize])
                == core::cmp::Ordering::Greater
        {
            self.largest = i;
        }
    }

    /// Takes the hole after `i` out of the size tree and the hole stack; the caller
    /// then sets its new `hole_size` (upstream `rm_hole` followed by the new size).
    #[inline]
    fn unindex_hole(&mut self, i: u32) {
        debug_assert!(
            self.slots[i as usize].hole_size != 0,
            "unindex_hole({i}) without a hole"
        );
        self.size_unindex(i);
        self.stack_unlink(i);
    }

    /// Takes the hole after `i` out of the size index (its `hole_size` still the old one).
    #[inline(always)]
    fn size_unindex(&mut self, i: u32) {
        if self.pending == i {
            self.pending = NIL;
        } else if self.slots[i as usize].hole_size < SMALL {
            self.small.remove(&mut self.slots, i);
        } else {
            self.unindex_big_hole(i);
        }
    }

    /// The size-treap half of [`size_unindex`](Self::size_unindex), out of line.
    #[inline(never)]
    fn unindex_big_hole(&mut self, i: u32) {
        if self.largest == i {
            self.largest = tree::prev::<SizeTree>(&self.slots, i);
        }
        tree::remove::<SizeTree>(&mut self.slots, &mut self.size_root, i, false);
    }

    /// Takes the hole after `i` off the hole stack.
    #[inline(always)]
    fn stack_unlink(&mut self, i: u32) {
        let slots = &mut self.slots[..];
        let (p, n) = {
            let s = &slots[i as usize];
            (s.stack_prev, s.stack_next)
        };
        if p == NIL {
            self.stack_top = n;
        } else {
            slots[p as usize].stack_next = n;
        }
        if n != NIL {
            slots[n as usize].stack_prev = p;
        }
    }

    /// The hole after `from` becomes the hole after `to` (`from` itself, or a node
    /// without a hole), `hole_size` units, as the most recent hole: the size index and
    /// the hole stack as [`unindex_hole`](Self::unindex_hole) of `from` then
    /// [`index_hole`](Self::index_hole) of `to` would leave them, in one step when
    /// `from` is already the newest hole (a removal next to the hole just freed, as in
    /// an eviction). The address tree is the caller's, and must already give `to` its
    /// final treap priority (which the size treap shares).
    #[inline(always)]
    fn move_hole(&mut self, from: u32, to: u32, hole_size: u64, defer: bool) {
        self.size_unindex(from);
        self.slots[to as usize].hole_size = hole_size;
        self.size_index(to, defer);
        if self.stack_top == from {
            if from != to {
                let slots = &mut self.slots[..];
                let n = slots[from as usize].stack_next;
                let s = &mut slots[to as usize];
                s.stack_prev = NIL;
                s.stack_next = n;
                if n != NIL {
                    slots[n as usize].stack_prev = to;
                }
                self.stack_top = to;
            }
        } else {
            self.stack_unlink(from);
            self.stack_push(to);
        }
    }

    /// The smallest hole of at least `size` (most recent among equals), `NIL` if none.
    #[inline]
    fn size_first(&self, size: u64) -> u32 {
        let b = self.small.first_fit(size);
        if b != NIL {
            return b;
        }
        tree::best_fit(&self.slots, self.size_root, size)
    }

    /// The hole after `h` in size order (upstream `rb_prev` on `holes_size`).
    #[inline]
    fn size_next(&self, h: u32) -> u32 {
        if self.slots[h as usize].hole_size < SMALL {
            let n = self.small.next(&self.slots, h);
            if n != NIL {
                return n;
            }
            return tree::first::<SizeTree>(&self.slots, self.size_root);
        }
        tree::next::<SizeTree>(&self.slots, h)
    }

    /// The largest hole, `NIL` if the range is full.
    #[inline]
    fn largest_slot(&self) -> u32 {
        let l = if self.largest != NIL {
            self.largest
        } else {
            self.small.largest()
        };
        // The deferred hole is the newest, so it wins ties.
        let p = self.pending;
        if p != NIL
            && (l == NIL || self.slots[p as usize].hole_size >= self.slots[l as usize].hole_size)
        {
            p
        } else {
            l
        }
    }

    // --- slot arena ------------------------------------------------------------------

    /// Takes a slot for a new node; the arena grows fallibly, so failure changes nothing.
    #[inline]
    fn alloc_slot(&mut self) -> Result<u32> {
        #[cfg(feature = "fault-injection")]
        if self.n_nodes >= self.max_nodes {
            return Err(Error::OutOfMemory);
        }
        if self.free_slot != NIL {
            let i = self.free_slot;
            self.free_slot = self.slots[i as usize].next;
            return Ok(i);
        }
        let i = u32::try_from(self.slots.len()).map_err(|_| Error::OutOfMemory)?;
        if i == NIL {
            return Err(Error::OutOfMemory);
        }
        self.slots.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
        self.slots.push(Slot::new(0, 0, 0, State::Free));
        Ok(i)
    }

    #[inline(always)]
    fn free_slot(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        s.state = State::Free;
        s.next = self.free_slot;
        self.free_slot = i;
    }

    /// The node in slot `i`, or `None` for the head (a range boundary).
    #[inline]
    pub(crate) fn info_of(&self, i: u32) -> Option<NodeInfo> {
        let s = &self.slots[i as usize];
        s.is_node().then_some(NodeInfo {
            start: s.start,
            size: s.size,
            color: s.color,
        })
    }

    pub(crate) fn slot(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    /// The arena, for the scan's list surgery.
    #[inline]
    pub(crate) fn slots_mut(&mut self) -> &mut [Slot] {
        &mut self.slots
    }

    /// Whether `node` was handed out by this allocator (not whether it is still live:
    /// a token is, as long as it exists, since only [`remove`](Self::remove) ends it).
    #[inline]
    pub(crate) fn owns(&self, node: &Node) -> bool {
        node.mm == self.id
    }

    /// Slot of `node` if it is an allocated node of this allocator.
    ///
    /// A token exists exactly as long as its node (it cannot be cloned or built outside
    /// this crate, and [`remove`](Self::remove) consumes it), so the allocator identity
    /// decides; the slot is still checked to be a live node, and in debug builds to
    /// match the token.
    #[inline(always)]
    pub(crate) fn lookup(&self, node: &Node) -> Result<u32> {
        if node.mm != self.id {
            return Err(Error::InvalidArgument);
        }
        let s = self
            .slots
            .get(node.index as usize)
            .ok_or(Error::InvalidArgument)?;
        if !s.is_node() {
            return Err(Error::InvalidArgument);
        }
        debug_assert!(
            s.start == node.start && s.size == node.size,
            "token of slot {} does not match it",
            node.index
        );
        Ok(node.index)
    }

    // --- fitting (shared with the scan) ----------------------------------------------

    /// Where a node of `req` goes in the gap `[hole_start, hole_end)` between `before`
    /// and `after`, or `None` if it does not fit: colour adjust, then the range clamp,
    /// then alignment (rounding up, or down when placing at the top), each re-checked.
    #[inline(always)]
    pub(crate) fn fit(
        &self,
        before: u32,
        after: u32,
        hole_start: u64,
        hole_end: u64,
        req: &Request,
    ) -> Option<u64> {
        let (col_start, col_end) = match &self.color_adjust {
            None => (hole_start, hole_end),
            Some(adjust) => self.color_adjusted(adjust, before, after, hole_start, hole_end, req),
        };
        let lo = col_start.max(req.range_start);
        let hi = col_end.min(req.range_end);
        if hi <= lo || hi - lo < req.size {
            return None;
        }
        let mut start = if req.top { hi - req.size } else { lo };
        if req.alignment != 0 {
            let rem = if req.remainder_mask != 0 {
                start & req.remainder_mask
            } else {
                start % req.alignment
            };
            if rem != 0 {
                start -= rem;
                if !req.top {
                    // Overflow past 2^64 can only be out of the hole.
                    start = start.checked_add(req.alignment)?;
                }
                if start < lo || start >= hi || hi - start < req.size {
                    return None;
                }
            }
        }
        Some(start)
    }

    /// The gap `[hole_start, hole_end)` between `before` and `after` as `adjust` shrinks
    /// it for `req`'s colour. Out of line: without a callback (the common case) the
    /// fitting then keeps the gap in registers instead of in memory for the callback.
    #[inline(never)]
    #[cold]
    fn color_adjusted(
        &self,
        adjust: &ColorAdjust,
        before: u32,
        after: u32,
        hole_start: u64,
        hole_end: u64,
        req: &Request,
    ) -> (u64, u64) {
        let (mut col_start, mut col_end) = (hole_start, hole_end);
        let (b, a) = (self.info_of(before), self.info_of(after));
        adjust(
            b.as_ref(),
            a.as_ref(),
            req.color,
            &mut col_start,
            &mut col_end,
        );
        (col_start, col_end)
    }

    /// [`fit`](Self::fit) applied to the hole after slot `h`.
    #[inline(always)]
    fn place(&self, h: u32, req: &Request) -> Option<u64> {
        let s = &self.slots[h as usize];
        let hole_start = s.end();
        self.fit(h, s.next, hole_start, hole_start + s.hole_size, req)
    }

    #[inline]
    fn hole_start(&self, h: u32) -> u64 {
        self.slots[h as usize].end()
    }

    #[inline]
    fn hole_end(&self, h: u32) -> u64 {
        let s = &self.slots[h as usize];
        s.end() + s.hole_size
    }

    // --- hole searches, one per mode ---------------------------------------------------

    /// The lowest hole of at least `size` that ends above `lo` (LOW's first candidate).
    fn first_low(&self, size: u64, lo: u64) -> u32 {
        if lo <= self.range_start {
            // Every hole ends above the range start: one pruned descent.
            return tree::first_fit(&self.slots, self.addr_root, size);
        }
        let f = tree::floor_end(&self.slots, self.addr_root, lo);
        let c = if f == NIL {
            tree::first::<AddrTree>(&self.slots, self.addr_root)
        } else if self.hole_end(f) > lo {
            f
        } else {
            tree::next::<AddrTree>(&self.slots, f)
        };
        if c == NIL || self.slots[c as usize].hole_size >= size {
            c
        } else {
            tree::next_fit(&self.slots, c, size)
        }
    }

    /// The highest hole of at least `size` that starts below `hi` (HIGH's first).
    fn last_high(&self, size: u64, hi: u64) -> u32 {
        let f = tree::below_end(&self.slots, self.addr_root, hi);
        if f == NIL || self.slots[f as usize].hole_size >= size {
            f
        } else {
            tree::prev_fit(&self.slots, f, size)
        }
    }

    fn find_low(&self, req: &Request, once: bool) -> Option<(u32, u64)> {
        let mut h = self.first_low(req.size, req.range_start);
        while h != NIL {
            if self.hole_start(h) >= req.range_end {
                break;
            }
            if let Some(start) = self.place(h, req) {
                return Some((h, start));
            }
            if once {
                break;
            }
            h = tree::next_fit(&self.slots, h, req.size);
        }
        None
    }

    fn find_high(&self, req: &Request, once: bool) -> Option<(u32, u64)> {
        let mut h = self.last_high(req.size, req.range_end);
        while h != NIL {
            if self.hole_end(h) <= req.range_start {
                break;
            }
            if let Some(start) = self.place(h, req) {
                return Some((h, start));
            }
            if once {
                break;
            }
            h = tree::prev_fit(&self.slots, h, req.size);
        }
        None
    }

    fn find_evict(&self, req: &Request) -> Option<(u32, u64)> {
        let mut h = self.stack_top;
        while h != NIL {
            if let Some(start) = self.place(h, req) {
                return Some((h, start));
            }
            h = self.slots[h as usize].stack_next;
        }
        None
    }

    /// BEST: the first hole in size order that passes (upstream walks `holes_size`).
    ///
    /// When the request is restricted to part of the range, the holes inside the range
    /// are enumerated by address interleaved with the size walk (four address steps per
    /// size step); whichever finishes first decides, and both give the same hole (the
    /// best in size order among those that pass). A small range in a large, fragmented
    /// allocator thus costs O(holes in the range · log n) instead of O(all holes), and
    /// never more than five times the size walk alone.
    #[inline(always)]
    fn find_best(&self, req: &Request) -> Option<(u32, u64)> {
        let mut by_size = self.size_first(req.size);
        let restricted = req.range_start > self.range_start || req.range_end < self.range_end;
        if !restricted {
            while by_size != NIL {
                if let Some(start) = self.place(by_size, req) {
                    return Some((by_size, start));
                }
                by_size = self.size_next(by_size);
            }
            return None;
        }
        let mut by_addr = self.first_low(req.size, req.range_start);
        let mut best: Option<(u32, u64)> = None;
        loop {
            if by_size == NIL {
                return None;
            }
            if let Some(start) = self.place(by_size, req) {
                return Some((by_size, start));
            }
            by_size = self.size_next(by_size);

            // Restricted requests are usually small windows of a large range, where the
            // address walk finishes first: give it four steps per size step.
            for _ in 0..4 {
                if by_addr == NIL || self.hole_start(by_addr) >= req.range_end {
                    return best;
                }
                if let Some(start) = self.place(by_addr, req) {
                    let better = match best {
                        None => true,
                        Some((b, _)) => {
                            SizeTree::cmp(&self.slots[by_addr as usize], &self.slots[b as usize])
                                == core::cmp::Ordering::Less
                        }
                    };
                    if better {
                        best = Some((by_addr, start));
                    }
                }
                by_addr = tree::next_fit(&self.slots, by_addr, req.size);
            }
        }
    }

    /// Links a new node `[start, start + size)` into the hole after `hole` (which must
    /// contain it) and updates every index (the commit of upstream insert and reserve).
    fn commit(&mut self, hole: u32, start: u64, size: u64, color: u64) -> Result<Node> {
        let i = self.alloc_slot()?;
        self.note_update();
        let lazy = self.addr_lazy;
        let slots = &mut self.slots[..];
        let h = &mut slots[hole as usize];
        let hole_start = h.end();
        let hole_end = hole_start + h.hole_size;
        let next = h.next;
        h.next = i;
        let end = start + size;
        let mut s = Slot::new(start, size, color, State::Allocated);
        s.prev = hole;
        s.next = next;
        s.hole_size = hole_end - end;
        s.prio = tree::prio_of(i);
        slots[i as usize] = s;
        slots[next as usize].prev = i;

        // As upstream: the hole goes, then the part below the node (if any) and the
        // part above it come back as new holes, the upper one most recent. In the
        // address tree (hole owners only) the cheapest equivalent change is made.
        let (lower, upper) = (start - hole_start, hole_end - end);
        match (lower != 0, upper != 0) {
            (false, true) => {
                // The hole moves up to the new node, which takes the owner's place (and
                // treap priority: first, so that the size index sees the final one).
                tree::addr_replace(&mut self.slots, &mut self.addr_root, hole, i, lazy);
                self.move_hole(hole, i, upper, false);
                self.slots[hole as usize].hole_size = 0;
            }
            (true, false) => {
                self.move_hole(hole, hole, lower, false);
                tree::fix(&mut self.slots, hole, lazy);
            }
            (true, true) => {
                self.unindex_hole(hole);
                self.slots[hole as usize].hole_size = lower;
                tree::addr_insert_after(&mut self.slots, &mut self.addr_root, hole, i, lazy);
                self.index_hole(hole, false);
                self.index_hole(i, false);
            }
            (false, false) => {
                self.unindex_hole(hole);
                // Leave the tree with the old hole still counted, so that the ancestors'
                // values stay consistent while it is rotated down; then forget it.
                tree::remove::<AddrTree>(&mut self.slots, &mut self.addr_root, hole, lazy);
                self.slots[hole as usize].hole_size = 0;
            }
        }
        self.used += size;
        self.n_nodes += 1;
        Ok(Node {
            mm: self.id,
            index: i,
            start,
            size,
            color,
        })
    }

    // --- public entry points -----------------------------------------------------------

    /// Creates an allocator managing `[start, start + size)`: one hole, no nodes
    /// (upstream `drm_mm_init`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `size` is 0 or `start + size` overflows (upstream
    /// BUG). [`Error::OutOfMemory`] if the head slot cannot be allocated.
    ///
    /// # Examples
    /// ```
    /// let mm = pddgpu_mm::Mm::new(0, 4096)?;
    /// assert_eq!(mm.holes().collect::<Vec<_>>(), [(0, 4096)]);
    /// # Ok::<(), pddgpu_mm::Error>(())
    /// ```
    pub fn new(start: u64, size: u64) -> Result<Self> {
        if size == 0 {
            return Err(Error::InvalidArgument);
        }
        let end = start.checked_add(size).ok_or(Error::InvalidArgument)?;
        let mut slots = Vec::new();
        slots.try_reserve(16).map_err(|_| Error::OutOfMemory)?;
        // The head: start = range end, size = -range size, so its end is the range start.
        let mut head = Slot::new(end, start.wrapping_sub(end), 0, State::Head);
        head.prev = HEAD;
        head.next = HEAD;
        head.prio = tree::prio_of(HEAD);
        slots.push(head);
        let mut mm = Self {
            id: NEXT_MM_ID.fetch_add(1, AtomicOrdering::Relaxed),
            slots,
            free_slot: NIL,
            addr_root: NIL,
            size_root: NIL,
            largest: NIL,
            small: Buckets::new()?,
            stack_top: NIL,
            pending: NIL,
            hole_seq: 0,
            addr_lazy: false,
            addr_quiet: 0,
            used: 0,
            n_nodes: 0,
            #[cfg(feature = "fault-injection")]
            max_nodes: usize::MAX,
            range_start: start,
            range_end: end,
            color_adjust: None,
        };
        mm.slots[HEAD as usize].hole_size = size;
        tree::addr_insert(&mut mm.slots, &mut mm.addr_root, HEAD, false);
        mm.index_hole(HEAD, false);
        Ok(mm)
    }

    /// First unit of the managed range.
    #[must_use]
    pub fn start(&self) -> u64 {
        self.range_start
    }

    /// One past the last unit of the managed range.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.range_end
    }

    /// Units in the managed range.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.range_end - self.range_start
    }

    /// Units in allocated nodes.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Units in holes (`size() - used()`).
    #[must_use]
    pub fn free(&self) -> u64 {
        self.size() - self.used
    }

    /// Number of allocated nodes.
    #[must_use]
    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    /// Installs or clears the colour callback (upstream `mm->color_adjust`).
    pub fn set_color_adjust(&mut self, f: Option<ColorAdjust>) {
        self.color_adjust = f;
    }

    /// Fault injection: caps the number of nodes, so that the next insertion beyond
    /// the cap fails with [`Error::OutOfMemory`] as a failed metadata allocation
    /// would; `None` removes the cap. Existing nodes are unaffected. Test-only:
    /// compiled in with the `fault-injection` cargo feature.
    #[cfg(feature = "fault-injection")]
    pub fn set_max_nodes(&mut self, limit: Option<usize>) {
        self.max_nodes = limit.unwrap_or(usize::MAX);
    }

    /// Inserts a node of `size` units anywhere in the managed range
    /// (upstream `drm_mm_insert_node_generic`); see [`insert_in_range`](Self::insert_in_range).
    ///
    /// # Errors
    /// As [`insert_in_range`](Self::insert_in_range).
    ///
    /// # Examples
    /// ```
    /// use pddgpu_mm::{InsertMode, Mm};
    /// let mut mm = Mm::new(0, 4096)?;
    /// let low = mm.insert(100, 0, 0, InsertMode::Low)?;
    /// let high = mm.insert(100, 64, 0, InsertMode::High)?;
    /// assert_eq!((low.start(), high.start()), (0, 3968)); // 3996 rounded down to 64
    /// mm.remove(low)?;
    /// mm.remove(high)?;
    /// # Ok::<(), pddgpu_mm::Error>(())
    /// ```
    pub fn insert(
        &mut self,
        size: u64,
        alignment: u64,
        color: u64,
        mode: InsertMode,
    ) -> Result<Node> {
        self.insert_in_range(size, alignment, color, 0, u64::MAX, mode)
    }

    /// Inserts a node of `size` units inside `[range_start, range_end)`, aligned to
    /// `alignment` (absolute; 0 and 1 mean none; any value), tagged `color`, choosing
    /// the hole as `mode` says (upstream `drm_mm_insert_node_in_range`).
    ///
    /// The hole is first shrunk by `color_adjust`, then clamped to the range, then the
    /// start is aligned (up, or down at the top for `High`/`Highest`).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] if `range_start > range_end`.
    /// - [`Error::NoSpace`] if `size` is 0, the range is smaller than `size`, or no
    ///   hole fits.
    /// - [`Error::OutOfMemory`] if node metadata cannot be allocated.
    ///
    /// On error nothing changed.
    ///
    /// # Complexity
    /// O(log n) to find the first candidate and to commit; each rejected candidate
    /// (range, colour, alignment) costs O(log n) more (O(1) for `Evict`). `Best`
    /// restricted to a sub-range costs at most O(holes in the range · log n).
    ///
    /// # Examples
    /// The range `[0, 7)` with `[1, 2)` and `[5, 6)` reserved has holes `[0,1)`, `[2,5)`
    /// and `[6,7)`:
    /// ```
    /// use pddgpu_mm::{InsertMode, Mm};
    /// let mut mm = Mm::new(0, 7)?;
    /// let a = mm.reserve(1, 1, 0)?;
    /// let b = mm.reserve(5, 1, 0)?;
    /// let low = mm.insert_in_range(2, 0, 0, 0, 7, InsertMode::Low)?;
    /// assert_eq!((low.start(), low.end()), (2, 4));
    /// mm.remove(low)?;
    /// let high = mm.insert_in_range(2, 0, 0, 0, 7, InsertMode::High)?;
    /// assert_eq!((high.start(), high.end()), (3, 5));
    /// # for n in [a, b, high] { mm.remove(n)?; }
    /// # Ok::<(), pddgpu_mm::Error>(())
    /// ```
    pub fn insert_in_range(
        &mut self,
        size: u64,
        alignment: u64,
        color: u64,
        range_start: u64,
        range_end: u64,
        mode: InsertMode,
    ) -> Result<Node> {
        if range_start > range_end {
            return Err(Error::InvalidArgument);
        }
        if size == 0 || range_end - range_start < size {
            return Err(Error::NoSpace);
        }
        let largest = self.largest_slot();
        if largest == NIL || self.slots[largest as usize].hole_size < size {
            return Err(Error::NoSpace);
        }
        let req = |top| Request::new(size, alignment, color, range_start, range_end, top);
        // One dispatch on the mode: the searches that prune by the address tree's
        // augmentation make it exact first; `Best` enters the deferred hole first.
        let found = match mode {
            InsertMode::Best => {
                if range_start > self.range_start || range_end < self.range_end {
                    self.addr_ready();
                }
                self.flush_pending();
                self.find_best(&req(false))
            }
            InsertMode::Low | InsertMode::Lowest => {
                self.addr_ready();
                self.find_low(&req(false), mode == InsertMode::Lowest)
            }
            InsertMode::High | InsertMode::Highest => {
                self.addr_ready();
                self.find_high(&req(true), mode == InsertMode::Highest)
            }
            InsertMode::Evict => self.find_evict(&req(false)),
        };
        let (hole, start) = found.ok_or(Error::NoSpace)?;
        self.commit(hole, start, size, color)
    }

    /// Reserves exactly `[start, start + size)` (upstream `drm_mm_reserve_node`).
    ///
    /// # Errors
    /// - [`Error::NoSpace`] if `size` is 0, the end overflows, or the span is not
    ///   entirely inside one hole after `color_adjust` (which sees `color`).
    /// - [`Error::OutOfMemory`] if node metadata cannot be allocated.
    ///
    /// # Complexity
    /// O(log n).
    ///
    /// # Examples
    /// ```
    /// let mut mm = pddgpu_mm::Mm::new(0, 4096)?;
    /// let node = mm.reserve(512, 1024, 0)?;
    /// assert_eq!(mm.holes().collect::<Vec<_>>(), [(0, 512), (1536, 4096)]);
    /// assert_eq!(mm.reserve(1024, 1, 0).unwrap_err(), pddgpu_mm::Error::NoSpace);
    /// mm.remove(node)?;
    /// # Ok::<(), pddgpu_mm::Error>(())
    /// ```
    pub fn reserve(&mut self, start: u64, size: u64, color: u64) -> Result<Node> {
        if size == 0 {
            return Err(Error::NoSpace);
        }
        let end = start.checked_add(size).ok_or(Error::NoSpace)?;
        let hole = tree::floor_end(&self.slots, self.addr_root, start);
        if hole == NIL {
            return Err(Error::NoSpace);
        }
        let (hole_start, hole_end) = (self.hole_start(hole), self.hole_end(hole));
        if start < hole_start || end > hole_end {
            return Err(Error::NoSpace);
        }
        let (mut adj_start, mut adj_end) = (hole_start, hole_end);
        if let Some(adjust) = &self.color_adjust {
            let next = self.slots[hole as usize].next;
            let (b, a) = (self.info_of(hole), self.info_of(next));
            adjust(b.as_ref(), a.as_ref(), color, &mut adj_start, &mut adj_end);
        }
        if adj_start > start || adj_end < end {
            return Err(Error::NoSpace);
        }
        self.commit(hole, start, size, color)
    }

    /// Frees `node`; its range merges with the holes around it, and the merged hole
    /// becomes the most recent one (found first by [`InsertMode::Evict`])
    /// (upstream `drm_mm_remove_node`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `node` belongs to another allocator (the node is
    /// then dropped, and leaks in its own allocator).
    ///
    /// # Complexity
    /// O(log n).
    pub fn remove(&mut self, node: Node) -> Result<()> {
        let i = self.lookup(&node)?;
        self.note_update();
        let lazy = self.addr_lazy;
        let slots = &mut self.slots[..];
        let (prev, next, i_hole) = {
            let s = &slots[i as usize];
            (s.prev, s.next, s.hole_size)
        };
        let p = &mut slots[prev as usize];
        let prev_hole = p.hole_size;
        p.next = next;
        slots[next as usize].prev = prev;
        // The holes on both sides and the node merge into one, the most recent hole
        // (within the range, so no overflow).
        let merged = prev_hole + node.size + i_hole;
        match (prev_hole != 0, i_hole != 0) {
            (true, true) => {
                self.unindex_hole(i);
                self.unindex_hole(prev);
                tree::addr_remove_merge(
                    &mut self.slots,
                    &mut self.addr_root,
                    i,
                    prev,
                    merged,
                    lazy,
                );
                self.index_hole(prev, true);
            }
            (true, false) => {
                self.move_hole(prev, prev, merged, true);
                tree::fix(&mut self.slots, prev, lazy);
            }
            (false, true) => {
                // No hole owner lies between them: `prev` takes the node's place (and
                // treap priority: first, so that the size index sees the final one).
                self.slots[prev as usize].hole_size = merged;
                tree::addr_replace(&mut self.slots, &mut self.addr_root, i, prev, lazy);
                self.move_hole(i, prev, merged, true);
            }
            (false, false) => {
                self.slots[prev as usize].hole_size = merged;
                tree::addr_insert(&mut self.slots, &mut self.addr_root, prev, lazy);
                self.index_hole(prev, true);
            }
        }
        self.used -= node.size;
        self.n_nodes -= 1;
        self.free_slot(i);
        Ok(())
    }

    /// Whether no node is allocated (upstream `drm_mm_clean`).
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.n_nodes == 0
    }

    /// The nodes in address order (upstream `drm_mm_for_each_node`).
    ///
    /// # Complexity
    /// O(1) per node.
    pub fn nodes(&self) -> impl Iterator<Item = NodeInfo> + '_ {
        let mut i = self.slots[HEAD as usize].next;
        core::iter::from_fn(move || {
            if i == HEAD {
                return None;
            }
            let info = self.info_of(i);
            i = self.slots[i as usize].next;
            info
        })
    }

    /// The nodes overlapping `[start, end)`, in address order (upstream
    /// `drm_mm_for_each_node_in_range`, safe for any bounds).
    ///
    /// # Complexity
    /// O(log n + r + k) for k nodes returned, r = nodes packed without a hole between
    /// the last hole below `start` and `start`.
    ///
    /// # Examples
    /// ```
    /// let mut mm = pddgpu_mm::Mm::new(0, 100)?;
    /// let a = mm.reserve(10, 10, 0)?;
    /// let b = mm.reserve(30, 10, 0)?;
    /// let c = mm.reserve(50, 10, 0)?;
    /// let hit: Vec<u64> = mm.nodes_in_range(19, 31).map(|n| n.start).collect();
    /// assert_eq!(hit, [10, 30]);
    /// # for n in [a, b, c] { mm.remove(n)?; }
    /// # Ok::<(), pddgpu_mm::Error>(())
    /// ```
    pub fn nodes_in_range(&self, start: u64, end: u64) -> impl Iterator<Item = NodeInfo> + '_ {
        // Start after the owner of the last hole starting at or below `start`: the nodes
        // between it and `start` follow each other without holes.
        let f = tree::floor_end(&self.slots, self.addr_root, start);
        let mut i = if f == NIL {
            self.slots[HEAD as usize].next
        } else {
            self.slots[f as usize].next
        };
        while i != HEAD && self.slots[i as usize].end() <= start {
            i = self.slots[i as usize].next;
        }
        core::iter::from_fn(move || {
            if i == HEAD || start >= end {
                return None;
            }
            let s = &self.slots[i as usize];
            if s.start >= end {
                return None;
            }
            i = s.next;
            Some(NodeInfo {
                start: s.start,
                size: s.size,
                color: s.color,
            })
        })
    }

    /// The holes as `(start, end)` in address order.
    ///
    /// # Complexity
    /// O(1) per node.
    pub fn holes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut i = HEAD;
        let mut done = false;
        core::iter::from_fn(move || {
            while !done {
                let s = &self.slots[i as usize];
                let cur = i;
                i = s.next;
                done = i == HEAD;
                if s.hole_size != 0 {
                    return Some((self.hole_start(cur), self.hole_end(cur)));
                }
            }
            None
        })
    }

    /// The holes as `(start, end)`, most recently created first: the order
    /// [`InsertMode::Evict`] tries them (upstream `drm_mm_for_each_hole`).
    pub fn holes_by_recency(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut i = self.stack_top;
        core::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let cur = i;
            i = self.slots[i as usize].stack_next;
            Some((self.hole_start(cur), self.hole_end(cur)))
        })
    }

    /// The largest hole as `(start, end)`, `None` if the range is full. O(1).
    #[must_use]
    pub fn largest_hole(&self) -> Option<(u64, u64)> {
        let l = self.largest_slot();
        (l != NIL).then(|| (self.hole_start(l), self.hole_end(l)))
    }

    // --- print / check / fini ------------------------------------------------------------

    /// Writes the layout in the kernel's `drm_mm_print` format: the holes and nodes in
    /// address order (zero-size holes omitted), then the totals.
    ///
    /// # Errors
    /// Only those of `out`.
    ///
    /// # Examples
    /// ```
    /// let mut mm = pddgpu_mm::Mm::new(0, 4096)?;
    /// let node = mm.reserve(512, 1024, 0)?;
    /// let mut s = String::new();
    /// mm.print(&mut s).unwrap();
    /// assert_eq!(s, "0x0000000000000000-0x0000000000000200: 512: free\n\
    ///                0x0000000000000200-0x0000000000000600: 1024: used\n\
    ///                0x0000000000000600-0x0000000000001000: 2560: free\n\
    ///                total: 4096, used 1024 free 3072\n");
    /// # mm.remove(node)?;
    /// # Ok::<(), pddgpu_mm::Error>(())
    /// ```
    pub fn print(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let (mut used, mut free) = (0u64, 0u64);
        let mut i = HEAD;
        loop {
            let s = &self.slots[i as usize];
            if i != HEAD {
                writeln!(out, "{:#018x}-{:#018x}: {}: used", s.start, s.end(), s.size)?;
                used += s.size;
            }
            if s.hole_size != 0 {
                let (hs, he) = (self.hole_start(i), self.hole_end(i));
                writeln!(out, "{hs:#018x}-{he:#018x}: {}: free", s.hole_size)?;
                free += s.hole_size;
            }
            i = s.next;
            if i == HEAD {
                break;
            }
        }
        writeln!(out, "total: {}, used {used} free {free}", used + free)
    }

    /// Tears the allocator down (upstream `drm_mm_takedown`).
    ///
    /// # Errors
    /// [`Leak`] listing the nodes never removed (their tokens were dropped or are still
    /// held); the allocator is gone either way.
    pub fn fini(self) -> core::result::Result<(), Leak> {
        if self.is_clean() {
            Ok(())
        } else {
            Err(Leak {
                nodes: self.nodes().collect(),
            })
        }
    }

    /// Re-derives every invariant from scratch and compares it with the indexes: the
    /// address list (ascending, disjoint, inside the range, hole sizes), the address
    /// tree (order, parent links, max-hole augmentation), the size tree (exactly the
    /// nodes with a hole, ordered, largest cached), the hole stack (exactly those,
    /// newest first), the free-slot list and the counters.
    ///
    /// # Errors
    /// [`CheckError`] describing the first violation found.
    ///
    /// # Complexity
    /// O(n log n); for tests and debugging.
    pub fn check(&self) -> core::result::Result<(), CheckError> {
        macro_rules! ensure {
            ($cond:expr, $($arg:tt)*) => {
                if !$cond {
                    return Err(CheckError { what: format!($($arg)*) });
                }
            };
        }
        let head = &self.slots[HEAD as usize];
        ensure!(head.state == State::Head, "slot 0 is not the head");
        ensure!(
            head.start == self.range_end && head.end() == self.range_start,
            "head does not encode the range"
        );
        // Address list.
        let mut order = Vec::new();
        let (mut used, mut n, mut holes, mut big) = (0u64, 0usize, 0usize, 0usize);
        let mut i = HEAD;
        let mut last_end = self.range_start;
        loop {
            let s = &self.slots[i as usize];
            order.push(i);
            if i != HEAD {
                ensure!(
                    s.state == State::Allocated,
                    "slot {i} in the list is {:?}",
                    s.state
                );
                ensure!(s.size != 0, "node {i} has size 0");
                ensure!(
                    s.start >= last_end,
                    "node {i} at {:#x} overlaps the previous",
                    s.start
                );
                ensure!(s.start.checked_add(s.size).is_some(), "node {i} wraps");
                used += s.size;
                n += 1;
            }
            let next = s.next;
            ensure!(
                (next as usize) < self.slots.len() && self.slots[next as usize].prev == i,
                "list link {i} -> {next} broken"
            );
            let next_start = self.slots[next as usize].start;
            ensure!(
                next_start >= s.end(),
                "node {i} ends after its successor starts"
            );
            ensure!(
                s.hole_size == next_start - s.end(),
                "slot {i}: hole_size {} but gap {}",
                s.hole_size,
                next_start - s.end()
            );
            if s.hole_size != 0 {
                holes += 1;
            }
            if s.hole_size >= SMALL && i != self.pending {
                big += 1;
            }
            last_end = s.end();
            if next == HEAD {
                break;
            }
            ensure!(order.len() <= self.slots.len(), "address list cycles");
            i = next;
        }
        ensure!(last_end <= self.range_end, "last node beyond the range end");
        ensure!(
            used == self.used,
            "used {} but nodes sum to {used}",
            self.used
        );
        ensure!(
            n == self.n_nodes,
            "n_nodes {} but {n} nodes listed",
            self.n_nodes
        );

        // Address tree: the hole owners, structure, augmentation, in-order = list order.
        order.retain(|&k| self.slots[k as usize].hole_size != 0);
        self.check_tree::<AddrTree>(self.addr_root, order.len())?;
        let mut t = tree::first::<AddrTree>(&self.slots, self.addr_root);
        for &want in &order {
            ensure!(
                t == want,
                "address tree order: {t} where the list has {want}"
            );
            t = tree::next::<AddrTree>(&self.slots, t);
        }
        ensure!(t == NIL, "address tree has extra slots");
        // Augmentation: exact on every clean slot (its children are clean, so the local
        // recomputation is exact by induction); stale slots only in lazy mode, and only
        // under stale parents.
        for &k in &order {
            let s = &self.slots[k as usize];
            if s.dirty {
                ensure!(self.addr_lazy, "slot {k} stale while the tree is exact");
                ensure!(
                    s.addr.parent == NIL || self.slots[s.addr.parent as usize].dirty,
                    "slot {k} stale under a clean parent {}",
                    s.addr.parent
                );
                continue;
            }
            let mut m = s.hole_size;
            for c in [s.addr.left, s.addr.right] {
                if c != NIL {
                    m = m.max(self.slots[c as usize].max_hole);
                }
            }
            ensure!(
                s.max_hole == m,
                "slot {k}: max_hole {} should be {m}",
                s.max_hole
            );
        }
        let mut in_tree = alloc::vec![false; self.slots.len()];
        for &k in &order {
            in_tree[k as usize] = true;
        }
        for (k, s) in self.slots.iter().enumerate() {
            ensure!(
                !s.dirty || in_tree[k],
                "slot {k} outside the address tree marked stale"
            );
        }

        // Size index: the small holes in their buckets, the others in the treap,
        // ascending, largest cached.
        let n_small = self
            .small
            .check(&self.slots)
            .map_err(|what| CheckError { what })?;
        let deferred = usize::from(self.pending != NIL);
        if self.pending != NIL {
            let p = &self.slots[self.pending as usize];
            ensure!(
                p.hole_size != 0 && self.stack_top == self.pending,
                "deferred hole {} is not the newest hole",
                self.pending
            );
        }
        ensure!(
            n_small + big + deferred == holes,
            "{n_small} small + {big} big + {deferred} deferred holes, list {holes}"
        );
        self.check_tree::<SizeTree>(self.size_root, big)?;
        let mut t = tree::first::<SizeTree>(&self.slots, self.size_root);
        let mut count = 0;
        let mut prev = NIL;
        while t != NIL {
            let s = &self.slots[t as usize];
            ensure!(
                s.hole_size >= SMALL,
                "slot {t} with a small hole in the size tree"
            );
            ensure!(s.is_node() || t == HEAD, "free slot {t} in the size tree");
            if prev != NIL {
                ensure!(
                    SizeTree::cmp(&self.slots[prev as usize], s) == core::cmp::Ordering::Less,
                    "size tree out of order at {t}"
                );
            }
            count += 1;
            prev = t;
            t = tree::next::<SizeTree>(&self.slots, t);
        }
        ensure!(count == big, "size tree has {count} holes, list {big}");
        ensure!(
            self.largest == prev,
            "largest hole cache {} but rightmost {prev}",
            self.largest
        );

        // Hole stack: exactly the holes, newest first.
        let mut t = self.stack_top;
        let (mut count, mut prev, mut seq) = (0usize, NIL, u64::MAX);
        while t != NIL {
            let s = &self.slots[t as usize];
            ensure!(
                s.hole_size != 0,
                "slot {t} without a hole on the hole stack"
            );
            ensure!(s.stack_prev == prev, "hole stack back link of {t} broken");
            ensure!(s.hole_seq < seq, "hole stack not newest first at {t}");
            seq = s.hole_seq;
            count += 1;
            ensure!(count <= holes, "hole stack longer than the hole count");
            prev = t;
            t = s.stack_next;
        }
        ensure!(count == holes, "hole stack has {count} holes, list {holes}");

        // Arena: every slot is the head, a listed node or free.
        let mut free = 0usize;
        let mut t = self.free_slot;
        while t != NIL {
            ensure!(
                self.slots[t as usize].state == State::Free,
                "slot {t} on the free list is in use"
            );
            free += 1;
            ensure!(free < self.slots.len(), "free-slot list cycles");
            t = self.slots[t as usize].next;
        }
        ensure!(
            1 + n + free == self.slots.len(),
            "{} slots but 1 head + {n} nodes + {free} free",
            self.slots.len()
        );
        Ok(())
    }

    /// Structural check of one tree: parent links, heap order of priorities, size.
    fn check_tree<T: Tree>(&self, root: u32, want: usize) -> core::result::Result<(), CheckError> {
        let err = |what: alloc::string::String| Err(CheckError { what });
        if root != NIL && T::links(&self.slots[root as usize]).parent != NIL {
            return err(format!("tree root {root} has a parent"));
        }
        let mut stack = Vec::new();
        let mut seen = 0usize;
        if root != NIL {
            stack.push(root);
        }
        while let Some(t) = stack.pop() {
            seen += 1;
            if seen > want {
                return err(format!("tree has more than {want} slots"));
            }
            let lk = *T::links(&self.slots[t as usize]);
            for c in [lk.left, lk.right] {
                if c == NIL {
                    continue;
                }
                if c as usize >= self.slots.len() || T::links(&self.slots[c as usize]).parent != t {
                    return err(format!("tree child {c} of {t} has a wrong parent link"));
                }
                if !crate::tree::heap_ok(&self.slots, t, c) {
                    return err(format!("tree heap order broken between {t} and {c}"));
                }
                stack.push(c);
            }
        }
        if seen != want {
            return err(format!("tree has {seen} slots, expected {want}"));
        }
        Ok(())
    }

    pub(crate) fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub(crate) fn addr_root(&self) -> u32 {
        self.addr_root
    }

    pub(crate) fn color_adjust_fn(&self) -> Option<&ColorAdjust> {
        self.color_adjust.as_ref()
    }
}

#[cfg(test)]
impl Mm {
    /// Whether the address tree's augmentation is currently maintained lazily.
    pub(crate) fn addr_lazy(&self) -> bool {
        self.addr_lazy
    }

    /// (max, mean) depth of the address and size trees.
    pub(crate) fn depths(&self) -> ((usize, f64), (usize, f64)) {
        fn walk<T: Tree>(slots: &[Slot], root: u32) -> (usize, f64) {
            let mut st = alloc::vec![(root, 1usize)];
            let (mut max, mut sum, mut n) = (0, 0usize, 0usize);
            while let Some((t, d)) = st.pop() {
                if t == NIL {
                    continue;
                }
                max = max.max(d);
                sum += d;
                n += 1;
                let l = T::links(&slots[t as usize]);
                st.push((l.left, d + 1));
                st.push((l.right, d + 1));
            }
            (max, sum as f64 / n.max(1) as f64)
        }
        (
            walk::<AddrTree>(&self.slots, self.addr_root),
            walk::<SizeTree>(&self.slots, self.size_root),
        )
    }
}
