//! Placement searches over the free-mask augmentation: every query is a descent from the
//! roots that only enters subtrees whose mask says a suitable free block is inside,
//! instead of upstream's per-order rbtree walks and range DFS.
//!
//! - best fit (default): smallest sufficient order from the roots' masks, then the
//!   highest block of that order: O(depth);
//! - top-down: highest block among all sufficient orders: O(depth);
//! - range: lowest aligned slot inside `[start, end)`: only the nodes on the two window
//!   boundaries are entered without a mask proof, so O(depth);
//! - bounded highest (force-merge, try-harder iteration): O(depth) per block found;
//! - offset-aligned: O(depth) when the wanted order is at least the alignment; below it
//!   a pruned search that may visit every alignment-sized subtree holding a misaligned
//!   candidate.

use crate::arena::{State, CLEAR, DIRTY, HINT_UNKNOWN, NIL};
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

    /// The mask of this class out of a node's per-index masks.
    #[inline]
    fn selector(self) -> fn(&[u64; 2]) -> u64 {
        match self {
            Class::Clear => |m| m[CLEAR],
            Class::Dirty => |m| m[DIRTY],
            Class::Any => |m| m[CLEAR] | m[DIRTY],
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

impl BuddyAllocator {
    #[inline]
    pub(crate) fn mask(&self, i: u32, class: Class) -> u64 {
        let m = &self.node(i).free_mask;
        match class {
            Class::Clear => m[CLEAR],
            Class::Dirty => m[DIRTY],
            Class::Any => m[CLEAR] | m[DIRTY],
        }
    }

    /// Orders with at least one free block of `class` anywhere.
    fn global_mask(&self, class: Class) -> u64 {
        match class {
            Class::Clear => self.orders_free[CLEAR],
            Class::Dirty => self.orders_free[DIRTY],
            Class::Any => self.orders_free[CLEAR] | self.orders_free[DIRTY],
        }
    }

    /// From `n`, the highest-addressed free block whose order is in `orders`.
    fn descend_highest(&self, mut n: u32, class: Class, orders: u64) -> u32 {
        let sel = class.selector();
        loop {
            // A node is split iff it has children (Node invariant).
            let left = self.nodes[n as usize].left;
            if left == NIL {
                return n;
            }
            n = if sel(&self.nodes[left as usize + 1].free_mask) & orders != 0 {
                left + 1
            } else {
                left
            };
        }
    }

    /// From `n`, the lowest-addressed free block whose order is in `orders`.
    fn descend_lowest(&self, mut n: u32, class: Class, orders: u64) -> u32 {
        let sel = class.selector();
        loop {
            let left = self.nodes[n as usize].left;
            if left == NIL {
                return n;
            }
            n = if sel(&self.nodes[left as usize].free_mask) & orders != 0 {
                left
            } else {
                left + 1
            };
        }
    }

    /// The highest-addressed free block of `class` whose order is in `orders`
    /// (upstream TOPDOWN `get_maxblock`, or `rb_last` of one order).
    pub(crate) fn find_highest(&self, class: Class, orders: u64) -> Option<u32> {
        (0..self.n_roots)
            .rev()
            .find(|&r| self.mask(r, class) & orders != 0)
            .map(|r| self.descend_highest(r, class, orders))
    }

    /// Best fit: the smallest order `>= order` holding a free block of `class`, and the
    /// highest block of that order (upstream `alloc_from_freetree` without TOPDOWN).
    /// The per-order hint answers in O(1) while valid.
    pub(crate) fn find_best_fit(&mut self, class: Class, order: u32) -> Option<u32> {
        let orders = self.global_mask(class) & orders_from(order);
        if orders == 0 {
            return None;
        }
        let order = orders.trailing_zeros();
        let tree = match class {
            Class::Clear => CLEAR,
            Class::Dirty => DIRTY,
            Class::Any => return self.find_highest(class, 1 << order),
        };
        let hint = self.hint[tree][order as usize];
        if hint != HINT_UNKNOWN && hint != NIL {
            return Some(hint);
        }
        let found = self.find_highest(class, 1 << order);
        self.hint[tree][order as usize] = found.unwrap_or(NIL);
        found
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
        (0..self.n_roots)
            .rev()
            .find_map(|r| self.highest_within(r, class, orders, lo, hi))
    }

    fn highest_within(&self, n: u32, class: Class, orders: u64, lo: u64, hi: u64) -> Option<u32> {
        let (s, e) = self.span(n);
        if e <= lo || s >= hi || self.mask(n, class) & orders == 0 {
            return None;
        }
        if s >= lo && e <= hi {
            return Some(self.descend_highest(n, class, orders));
        }
        if self.node(n).state() != State::Split {
            return None;
        }
        let left = self.node(n).left;
        self.highest_within(left + 1, class, orders, lo, hi)
            .or_else(|| self.highest_within(left, class, orders, lo, hi))
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
        (0..self.n_roots).find_map(|r| self.range_slot(r, class, order, start, end))
    }

    fn range_slot(
        &self,
        n: u32,
        class: Class,
        order: u32,
        start: u64,
        end: u64,
    ) -> Option<(u32, u64)> {
        let (s, e) = self.span(n);
        let orders = orders_from(order);
        if e <= start || s >= end || self.mask(n, class) & orders == 0 {
            return None;
        }
        match self.node(n).state() {
            State::Free => {
                // Upstream's pruning: an aligned slot of the request size must fit in
                // block ∩ range.
                let req = self.order_size(order);
                let lo = s.max(start);
                let slot = lo.checked_add(req - 1)? & !(req - 1);
                (slot.checked_add(req)? <= e.min(end)).then_some((n, slot))
            }
            State::Split if s >= start && e <= end => {
                let b = self.descend_lowest(n, class, orders);
                Some((b, self.node(b).offset()))
            }
            State::Split => {
                let left = self.node(n).left;
                self.range_slot(left, class, order, start, end)
                    .or_else(|| self.range_slot(left + 1, class, order, start, end))
            }
            State::Allocated | State::Unused => None,
        }
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
            if node.state() != State::Free || !node.is_clear() || node.order() < order {
                return None;
            }
            self.range_slot(r, Class::Clear, order, start, end)
        })
    }

    /// The highest free block of exactly `order` in `class` whose offset is a multiple
    /// of `align` bytes (upstream `gpu_buddy_find_block_aligned`).
    pub(crate) fn find_aligned(&self, class: Class, order: u32, align: u64) -> Option<u32> {
        if self.order_size(order) >= align {
            // Blocks are naturally aligned to their size.
            return self.find_highest(class, 1 << order);
        }
        (0..self.n_roots)
            .rev()
            .find_map(|r| self.aligned(r, class, order, align))
    }

    fn aligned(&self, n: u32, class: Class, order: u32, align: u64) -> Option<u32> {
        if self.mask(n, class) & (1 << order) == 0 {
            return None;
        }
        let (s, e) = self.span(n);
        if e - s <= align {
            // At most one aligned offset in here: the block's own, on its left spine.
            if s % align != 0 {
                return None;
            }
            let mut m = n;
            while self.node(m).state() == State::Split && self.node(m).order() > order {
                m = self.node(m).left;
            }
            let node = self.node(m);
            return (node.state() == State::Free
                && node.order() == order
                && self.mask(m, class) != 0)
                .then_some(m);
        }
        if self.node(n).state() != State::Split {
            return None;
        }
        let left = self.node(n).left;
        self.aligned(left + 1, class, order, align)
            .or_else(|| self.aligned(left, class, order, align))
    }
}
