//! Placement searches over the free index (`crate::index`): every query combines, over
//! the candidate orders and free indexes, the answer of one per-order lookup, instead of
//! upstream's per-order rbtree walks and range DFS.
//!
//! - best fit (default): smallest sufficient order from the per-index order masks, then
//!   the cached highest block of that order: O(1);
//! - top-down: highest of the cached highest blocks of the sufficient orders: O(orders);
//! - range: per order, the lowest free block reaching into `[start, end)` whose aligned
//!   slot fits (at most the blocks straddling `start` and `end` are rejected), the lowest
//!   over the orders: O(orders × levels);
//! - bounded highest (force-merge, try-harder iteration): O(orders × levels) per block;
//! - offset-aligned: O(levels) when the wanted order is at least the alignment; below it
//!   one lookup per alignment-sized group holding a misaligned candidate.

use crate::arena::{CLEAR, DIRTY};
use crate::BuddyAllocator;

/// Which free blocks a search may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Free blocks with the clear bit.
    Clear,
    /// Free blocks without it.
    Dirty,
    /// Any free block.
    Any,
}

impl Class {
    pub(crate) fn preferred(clear: bool) -> Self {
        if clear {
            Class::Clear
        } else {
            Class::Dirty
        }
    }

    /// The free indexes this class searches.
    #[inline]
    fn trees(self) -> &'static [usize] {
        match self {
            Class::Clear => &[CLEAR],
            Class::Dirty => &[DIRTY],
            Class::Any => &[CLEAR, DIRTY],
        }
    }

    pub(crate) fn other(self) -> Self {
        match self {
            Class::Clear => Class::Dirty,
            Class::Dirty => Class::Clear,
            Class::Any => Class::Any,
        }
    }
}

/// Orders `order..`, as a mask.
#[inline]
pub(crate) fn orders_from(order: u32) -> u64 {
    !0u64 << order
}

/// The orders set in `mask`, lowest first.
#[inline]
fn each_order(mut mask: u64) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        (mask != 0).then(|| {
            let o = mask.trailing_zeros();
            mask &= mask - 1;
            o
        })
    })
}

/// Upstream's range pruning: the lowest `req`-aligned slot of `req` bytes inside block
/// `[s, e)` ∩ `[start, end)`, if there is one.
#[inline]
fn fitting_slot(s: u64, e: u64, req: u64, start: u64, end: u64) -> Option<u64> {
    let lo = s.max(start);
    let slot = lo.checked_add(req - 1)? & !(req - 1);
    (slot.checked_add(req)? <= e.min(end)).then_some(slot)
}

impl BuddyAllocator {
    /// Orders with at least one free block of `class` anywhere.
    fn global_mask(&self, class: Class) -> u64 {
        match class {
            Class::Clear => self.orders_free[CLEAR],
            Class::Dirty => self.orders_free[DIRTY],
            Class::Any => self.orders_free[CLEAR] | self.orders_free[DIRTY],
        }
    }

    /// The highest-addressed free block of `class` whose order is in `orders`
    /// (upstream TOPDOWN `get_maxblock`, or `rb_last` of one order).
    pub(crate) fn find_highest(&self, class: Class, orders: u64) -> Option<u32> {
        let mut best: Option<(u64, u32)> = None;
        for order in each_order(self.global_mask(class) & orders) {
            for &tree in class.trees() {
                if let Some((slot, node)) = self.index.last(tree, order) {
                    let offset = slot << (order + self.chunk_shift);
                    if best.map_or(true, |(b, _)| offset > b) {
                        best = Some((offset, node));
                    }
                }
            }
        }
        best.map(|(_, node)| node)
    }

    /// Best fit: the smallest order `>= order` holding a free block of `class`, and the
    /// highest block of that order (upstream `alloc_from_freetree` without TOPDOWN).
    #[inline]
    pub(crate) fn find_best_fit(&self, class: Class, order: u32) -> Option<u32> {
        let orders = self.global_mask(class) & orders_from(order);
        if orders == 0 {
            return None;
        }
        let order = orders.trailing_zeros();
        match class {
            Class::Clear => self.index.last(CLEAR, order).map(|(_, node)| node),
            Class::Dirty => self.index.last(DIRTY, order).map(|(_, node)| node),
            Class::Any => self.find_highest(class, 1 << order),
        }
    }

    /// The highest-addressed free block of `class` with order in `orders` lying wholly
    /// inside `[lo, hi)`.
    pub(crate) fn find_highest_within(
        &self,
        class: Class,
        orders: u64,
        lo: u64,
        hi: u64,
    ) -> Option<u32> {
        if lo >= hi {
            return None;
        }
        let mut best: Option<(u64, u32)> = None;
        for order in each_order(self.global_mask(class) & orders) {
            let shift = order + self.chunk_shift;
            for &tree in class.trees() {
                // Slots ending at or below `hi`: slot + 1 <= hi / size.
                if let Some((slot, node)) = self.index.prev(tree, order, hi >> shift) {
                    let offset = slot << shift;
                    if offset >= lo && best.map_or(true, |(b, _)| offset > b) {
                        best = Some((offset, node));
                    }
                }
            }
        }
        best.map(|(_, node)| node)
    }

    /// Range search (upstream `__alloc_range_bias`): the lowest `order`-sized,
    /// naturally aligned slot inside `[start, end)` that lies in a free block of
    /// `class`. Returns the free block and the slot's offset.
    pub(crate) fn find_range_slot(
        &self,
        class: Class,
        order: u32,
        start: u64,
        end: u64,
    ) -> Option<(u32, u64)> {
        let req = self.order_size(order);
        // (block offset, block, slot offset) of the lowest candidate so far.
        let mut best: Option<(u64, u32, u64)> = None;
        for o in each_order(self.global_mask(class) & orders_from(order)) {
            let shift = o + self.chunk_shift;
            let size = self.order_size(o);
            for &tree in class.trees() {
                let mut from = start >> shift;
                // Blocks wholly inside the window always fit: only the blocks holding
                // `start` and `end` can be rejected, so this runs at most three times.
                while let Some((slot, node)) = self.index.next(tree, o, from) {
                    let s = slot << shift;
                    if s >= end || best.is_some_and(|(b, _, _)| s > b) {
                        break;
                    }
                    if let Some(at) = fitting_slot(s, s + size, req, start, end) {
                        best = Some((s, node, at));
                        break;
                    }
                    from = slot + 1;
                }
            }
        }
        best.map(|(_, node, at)| (node, at))
    }

    /// The first pass of a CLEAR range request: upstream's DFS skips every split block
    /// (split blocks never carry the clear bit), so only a free, clear root can serve it.
    pub(crate) fn find_range_slot_clear_root(
        &self,
        order: u32,
        start: u64,
        end: u64,
    ) -> Option<(u32, u64)> {
        (0..self.n_roots).find_map(|r| {
            let node = self.node(r);
            if node.state() != crate::arena::State::Free || !node.is_clear() || node.order() < order
            {
                return None;
            }
            let (s, e) = self.span(r);
            if e <= start || s >= end {
                return None;
            }
            fitting_slot(s, e, self.order_size(order), start, end).map(|at| (r, at))
        })
    }

    /// The highest free block of exactly `order` in `class` whose offset is a multiple
    /// of `align` bytes (upstream `gpu_buddy_find_block_aligned`).
    pub(crate) fn find_aligned(&self, class: Class, order: u32, align: u64) -> Option<u32> {
        let size = self.order_size(order);
        if size >= align {
            // Blocks are naturally aligned to their size.
            return self.find_highest(class, 1 << order);
        }
        // Aligned slots are the multiples of `stride`.
        let stride = align / size;
        let mut best: Option<(u64, u32)> = None;
        for &tree in class.trees() {
            let mut limit = u64::MAX;
            while let Some((slot, node)) = self.index.prev(tree, order, limit) {
                if best.is_some_and(|(b, _)| slot < b) {
                    break;
                }
                if slot % stride == 0 {
                    best = Some((slot, node));
                    break;
                }
                // The only aligned slot of this group that can beat the rest: its first.
                let first = slot & !(stride - 1);
                if let Some(node) = self.index.get(tree, order, first) {
                    best = Some((first, node));
                    break;
                }
                limit = first;
            }
        }
        best.map(|(_, node)| node)
    }
}
