//! The free index (upstream: one rbtree of free blocks per order and per clear state):
//! for every order, a sparse 64-ary radix tree of bitmaps over *slots*, the block numbers
//! `offset >> (chunk_shift + order)`. A leaf holds, per free index (clear, dirty), a bit
//! per slot and the arena index of the free block in each slot; an inner node holds, per
//! free index, a bit per child saying "this child holds a free block", so
//!
//! - the highest free block of an order (upstream `rb_last`) is cached; when it leaves
//!   the index the next one is found by a walk down from the lowest node that still
//!   holds a free block (≤ 9 levels, 4 for a 16 GiB heap of 4 KiB chunks at order 0);
//! - "the highest free block below slot `x`" and "the lowest at or above `x`" (range,
//!   force-merge and try-harder searches) are one walk down the digits of `x` and one
//!   walk down an edge;
//! - insert and remove start at the leaf the block carries (see
//!   [`ensure`](FreeIndex::ensure)) and touch one leaf word, climbing through the
//!   parents only while a word turns empty or non-empty.
//!
//! Radix nodes are allocated only by [`FreeIndex::ensure`], which the allocator calls for
//! every slot a block may ever occupy *before* the block exists (roots at construction,
//! both children of a split before the split), and are never freed. So inserting and
//! removing never allocate: frees, merges and undo stay infallible, and the memory is
//! bounded by the slots the tree has ever used (a dense order costs 280 bytes per 64
//! slots), not by the managed size.

use alloc::vec::Vec;

use crate::arena::{NIL, ORDERS};
use crate::{Error, Result};

/// Bits of a slot number consumed per radix level.
const FANOUT_SHIFT: u32 = 6;
/// "No block" in [`Top::slot`].
const NO_SLOT: u64 = u64::MAX;

/// One radix node: a leaf (level 0) or an inner node.
///
/// # Invariants
/// - Inner: `link[d]` is the child for digit `d` or [`NIL`]; bit `d` of `bits[t]` is set
///   iff that child exists and has a bit set in `bits[t]`.
/// - Leaf: bit `d` of `bits[t]` is set iff slot `d` holds a free block of free index `t`;
///   `link[d]` is then that block's arena index (stale otherwise).
/// - `parent` is the node one level up ([`NIL`] for a root), so that updates start at
///   the leaf a block carries and climb only while a word turns empty or non-empty.
#[derive(Debug, Clone)]
struct RadixNode {
    bits: [u64; 2],
    parent: u32,
    link: [u32; 64],
}

/// The cached highest free block of one order in one free index.
#[derive(Debug, Clone, Copy)]
struct Top {
    slot: u64,
    node: u32,
}

const NO_TOP: Top = Top {
    slot: NO_SLOT,
    node: NIL,
};

/// The per-order free-block index. See the module documentation.
#[derive(Debug)]
pub(crate) struct FreeIndex {
    /// Every radix node of every order.
    pool: Vec<RadixNode>,
    /// Per order, the root radix node ([`NIL`] until the first `ensure`).
    roots: [u32; ORDERS],
    /// Per order, the number of radix levels (≥ 1).
    levels: [u8; ORDERS],
    /// Per free index and order, the highest free block.
    top: [[Top; ORDERS]; 2],
}

/// Digit of `slot` at radix level `level`.
#[inline]
fn digit(slot: u64, level: usize) -> usize {
    ((slot >> (FANOUT_SHIFT as usize * level)) & 63) as usize
}

/// Highest set bit of non-zero `m`.
#[inline]
fn last_bit(m: u64) -> usize {
    63 - m.leading_zeros() as usize
}

impl FreeIndex {
    /// An empty index for slot numbers up to `max_slot[order]` at every order.
    pub(crate) fn new(max_slot: impl Fn(u32) -> u64) -> Self {
        let mut levels = [1u8; ORDERS];
        for (order, l) in (0u32..).zip(levels.iter_mut()) {
            let bits = 64 - max_slot(order).leading_zeros();
            // Slot numbers have at most 52 bits, so at most 9 levels: fits u8.
            *l = bits.div_ceil(FANOUT_SHIFT).max(1) as u8;
        }
        Self {
            pool: Vec::new(),
            roots: [NIL; ORDERS],
            levels,
            top: [[NO_TOP; ORDERS]; 2],
        }
    }

    fn new_node(&mut self, parent: u32) -> Result<u32> {
        let i = u32::try_from(self.pool.len()).map_err(|_| Error::OutOfMemory)?;
        if i == NIL {
            return Err(Error::OutOfMemory);
        }
        self.pool.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
        self.pool.push(RadixNode {
            bits: [0; 2],
            parent,
            link: [NIL; 64],
        });
        Ok(i)
    }

    /// Makes sure the radix path of `slot` at `order` exists, so that inserting it later
    /// cannot fail, and returns its leaf: the handle the block keeps for
    /// [`insert`](Self::insert) and [`remove`](Self::remove). Slots `2k` and `2k + 1`
    /// share a leaf, so one call covers both children of a split.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if a radix node cannot be allocated; the index is
    /// logically unchanged then (nodes already added stay, empty).
    pub(crate) fn ensure(&mut self, order: u32, slot: u64) -> Result<u32> {
        let o = order as usize;
        if self.roots[o] == NIL {
            self.roots[o] = self.new_node(NIL)?;
        }
        let mut r = self.roots[o];
        for level in (1..self.levels[o] as usize).rev() {
            let d = digit(slot, level);
            let child = self.pool[r as usize].link[d];
            r = if child == NIL {
                let c = self.new_node(r)?;
                self.pool[r as usize].link[d] = c;
                c
            } else {
                child
            };
        }
        Ok(r)
    }

    /// The leaf of an [`ensure`](Self::ensure)d slot, by a walk from the root (for the
    /// rare paths that rebuild a block without its handle, and for `check`).
    pub(crate) fn leaf_of(&self, order: u32, slot: u64) -> Option<u32> {
        let o = order as usize;
        let mut r = self.roots[o];
        for level in (1..self.levels[o] as usize).rev() {
            r = self.pool.get(r as usize)?.link[digit(slot, level)];
        }
        self.pool.get(r as usize).map(|_| r)
    }

    /// Enters free block `node` of `order` at `slot`, whose leaf is `leaf` (from
    /// [`ensure`](Self::ensure)), into free index `tree`. The slot must not be in the
    /// other free index (a block is clear or dirty; the two indexes share the leaf's
    /// block links). O(1), plus one step up per level whose word was empty.
    #[inline]
    pub(crate) fn insert(&mut self, tree: usize, order: u32, slot: u64, node: u32, leaf: u32) {
        let o = order as usize;
        let d = digit(slot, 0);
        let l = &mut self.pool[leaf as usize];
        l.link[d] = node;
        let was = l.bits[tree];
        l.bits[tree] = was | 1 << d;
        let top = &mut self.top[tree][o];
        if top.slot == NO_SLOT || slot > top.slot {
            *top = Top { slot, node };
        }
        if was == 0 {
            // The leaf turned non-empty: set summary bits upward until one was set.
            let mut r = self.pool[leaf as usize].parent;
            let mut shift = FANOUT_SHIFT;
            while r != NIL {
                let n = &mut self.pool[r as usize];
                let was = n.bits[tree];
                n.bits[tree] = was | 1 << ((slot >> shift) & 63);
                if was != 0 {
                    break;
                }
                r = n.parent;
                shift += FANOUT_SHIFT;
            }
        }
    }

    /// Takes the block at `slot` of `order`, whose leaf is `leaf`, out of free index
    /// `tree`. O(1), plus one step up per level whose word turns empty, plus a walk
    /// down to the next highest block when this one was the highest.
    #[inline]
    pub(crate) fn remove(&mut self, tree: usize, order: u32, slot: u64, leaf: u32) {
        let o = order as usize;
        let was_top = self.top[tree][o].slot == slot;
        let l = &mut self.pool[leaf as usize];
        l.bits[tree] &= !(1 << (slot & 63));
        let left = l.bits[tree];
        if left != 0 {
            if was_top {
                // Everything else is below the old highest block: the new one is the
                // highest bit left in this leaf.
                let d = last_bit(left);
                let node = l.link[d];
                self.top[tree][o] = Top {
                    slot: (slot & !63) | d as u64,
                    node,
                };
            }
            return;
        }
        // The leaf turned empty: clear summary bits upward until a node keeps another
        // non-empty child.
        let mut r = self.pool[leaf as usize].parent;
        let mut level = 1;
        let mut kept = 0;
        while r != NIL {
            let n = &mut self.pool[r as usize];
            n.bits[tree] &= !(1 << digit(slot, level));
            kept = n.bits[tree];
            if kept != 0 {
                break;
            }
            r = n.parent;
            level += 1;
        }
        if was_top {
            // Likewise, the new highest block is under the highest child left at `r`.
            self.top[tree][o] = if kept == 0 {
                NO_TOP
            } else {
                let d = last_bit(kept);
                let prefix =
                    (slot >> (FANOUT_SHIFT as usize * (level + 1))) << FANOUT_SHIFT | d as u64;
                let child = self.pool[r as usize].link[d];
                let (slot, node) = self.descend(tree, child, level - 1, prefix, true);
                Top { slot, node }
            };
        }
    }

    /// The highest free block of order `o` in `tree`, found from the root.
    fn max(&self, tree: usize, o: usize) -> Top {
        let root = self.roots[o];
        if root == NIL || self.pool[root as usize].bits[tree] == 0 {
            return NO_TOP;
        }
        let (slot, node) = self.descend(tree, root, self.levels[o] as usize - 1, 0, true);
        Top { slot, node }
    }

    /// The highest free block of `order` in `tree` as `(slot, node)`: O(1).
    #[inline]
    pub(crate) fn last(&self, tree: usize, order: u32) -> Option<(u64, u32)> {
        let top = self.top[tree][order as usize];
        (top.slot != NO_SLOT).then_some((top.slot, top.node))
    }

    /// The block in `slot` if it is free in `tree`.
    pub(crate) fn get(&self, tree: usize, order: u32, slot: u64) -> Option<u32> {
        let o = order as usize;
        if slot >> (FANOUT_SHIFT * u32::from(self.levels[o])) != 0 {
            return None;
        }
        // Unlike `leaf`, any slot may be asked about: stop where the path ends.
        let mut r = self.roots[o];
        for level in (1..self.levels[o] as usize).rev() {
            r = self.pool.get(r as usize)?.link[digit(slot, level)];
        }
        let leaf = self.pool.get(r as usize)?;
        let d = digit(slot, 0);
        (leaf.bits[tree] & 1 << d != 0).then_some(leaf.link[d])
    }

    /// From radix node `r` at `level` (non-empty in `tree`) whose slots start with
    /// `prefix`, the highest (`high`) or lowest free block below it.
    #[inline]
    fn descend(
        &self,
        tree: usize,
        mut r: u32,
        mut level: usize,
        mut prefix: u64,
        high: bool,
    ) -> (u64, u32) {
        loop {
            let node = &self.pool[r as usize];
            let m = node.bits[tree];
            let d = if high {
                last_bit(m)
            } else {
                m.trailing_zeros() as usize
            };
            prefix = prefix << FANOUT_SHIFT | d as u64;
            if level == 0 {
                return (prefix, node.link[d]);
            }
            r = node.link[d];
            level -= 1;
        }
    }

    /// The highest free block of `order` in `tree` with a slot below `limit`, as
    /// `(slot, node)`. O(levels): one walk down the digits of `limit - 1`, remembering
    /// the deepest node with a non-empty child left of the walk, then one walk down
    /// the right edge below that child.
    pub(crate) fn prev(&self, tree: usize, order: u32, limit: u64) -> Option<(u64, u32)> {
        let o = order as usize;
        let root = self.roots[o];
        if limit == 0 || root == NIL {
            return None;
        }
        let levels = self.levels[o] as usize;
        let cap = (1u64 << (FANOUT_SHIFT as usize * levels)) - 1;
        let target = (limit - 1).min(cap);
        let mut r = root;
        let mut level = levels - 1;
        // (node, level, children left of the walk) of the deepest such node.
        let mut alt = None;
        loop {
            let node = &self.pool[r as usize];
            let d = digit(target, level);
            let bits = node.bits[tree];
            if level == 0 {
                let m = bits & (u64::MAX >> (63 - d));
                if m != 0 {
                    let d = last_bit(m);
                    return Some(((target & !63) | d as u64, node.link[d]));
                }
                break;
            }
            let below = bits & ((1u64 << d) - 1);
            if below != 0 {
                alt = Some((r, level, below));
            }
            if bits & 1 << d == 0 {
                break;
            }
            r = node.link[d];
            level -= 1;
        }
        let (r, level, m) = alt?;
        let d = last_bit(m);
        let prefix = (target >> (FANOUT_SHIFT as usize * (level + 1))) << FANOUT_SHIFT | d as u64;
        Some(self.descend(tree, self.pool[r as usize].link[d], level - 1, prefix, true))
    }

    /// The lowest free block of `order` in `tree` with a slot at or above `from`, as
    /// `(slot, node)`. O(levels), as [`prev`](Self::prev) mirrored.
    pub(crate) fn next(&self, tree: usize, order: u32, from: u64) -> Option<(u64, u32)> {
        let o = order as usize;
        let root = self.roots[o];
        let levels = self.levels[o] as usize;
        if root == NIL || from >> (FANOUT_SHIFT as usize * levels) != 0 {
            return None;
        }
        let mut r = root;
        let mut level = levels - 1;
        let mut alt = None;
        loop {
            let node = &self.pool[r as usize];
            let d = digit(from, level);
            let bits = node.bits[tree];
            if level == 0 {
                let m = bits & (u64::MAX << d);
                if m != 0 {
                    let d = m.trailing_zeros() as usize;
                    return Some(((from & !63) | d as u64, node.link[d]));
                }
                break;
            }
            let above = bits & ((u64::MAX << d) << 1);
            if above != 0 {
                alt = Some((r, level, above));
            }
            if bits & 1 << d == 0 {
                break;
            }
            r = node.link[d];
            level -= 1;
        }
        let (r, level, m) = alt?;
        let d = m.trailing_zeros() as usize;
        let prefix = (from >> (FANOUT_SHIFT as usize * (level + 1))) << FANOUT_SHIFT | d as u64;
        Some(self.descend(
            tree,
            self.pool[r as usize].link[d],
            level - 1,
            prefix,
            false,
        ))
    }

    /// Re-derives the summary bits of `order` from its leaves and checks the cached
    /// highest blocks; returns the number of free blocks per free index.
    ///
    /// # Errors
    /// A description of the first inconsistency.
    pub(crate) fn verify(&self, order: u32) -> core::result::Result<[u64; 2], &'static str> {
        let o = order as usize;
        let mut count = [0u64; 2];
        if self.roots[o] != NIL {
            let levels = self.levels[o] as usize;
            self.verify_node(self.roots[o], levels - 1, &mut count)?;
        }
        for (tree, top) in self.top.iter().enumerate() {
            let expect = self.prev(tree, order, u64::MAX);
            let max = self.max(tree, o);
            if expect != (max.slot != NO_SLOT).then_some((max.slot, max.node)) {
                return Err("free index lookups disagree");
            }
            let cached = (top[o].slot != NO_SLOT).then_some((top[o].slot, top[o].node));
            if expect != cached {
                return Err("cached highest free block of an order is stale");
            }
        }
        Ok(count)
    }

    fn verify_node(
        &self,
        r: u32,
        level: usize,
        count: &mut [u64; 2],
    ) -> core::result::Result<(), &'static str> {
        let node = self
            .pool
            .get(r as usize)
            .ok_or("free index link out of range")?;
        if level == 0 {
            for (c, bits) in count.iter_mut().zip(node.bits) {
                *c += u64::from(bits.count_ones());
            }
            return Ok(());
        }
        for d in 0..64 {
            let child = node.link[d];
            let mut nonempty = [false; 2];
            if child != NIL {
                let c = self
                    .pool
                    .get(child as usize)
                    .ok_or("free index link out of range")?;
                if c.parent != r {
                    return Err("free index node does not point back to its parent");
                }
                nonempty = [c.bits[0] != 0, c.bits[1] != 0];
                self.verify_node(child, level - 1, count)?;
            }
            for (tree, &ne) in nonempty.iter().enumerate() {
                if (node.bits[tree] & 1 << d != 0) != ne {
                    return Err("free index summary bit disagrees with its child");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Slot counts per order: order 0 is huge (5 radix levels, sparse), order 1 one
    /// leaf, order 2 a single slot.
    fn max_slot(order: u32) -> u64 {
        match order {
            0 => (1 << 28) + 12_345,
            1 => 50,
            _ => 0,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Toggle { tree: usize, order: u32, slot: u64 },
        Prev { tree: usize, order: u32, limit: u64 },
        Next { tree: usize, order: u32, from: u64 },
    }

    fn slot_in(order: u32) -> impl Strategy<Value = u64> {
        let max = max_slot(order);
        // Clustered slots (shared leaves) and scattered ones (sparse paths).
        prop_oneof![0..=max.min(200), 0..=max, (max.saturating_sub(200))..=max]
    }

    fn op() -> impl Strategy<Value = Op> {
        (0usize..2, 0u32..3).prop_flat_map(|(tree, order)| {
            let max = max_slot(order);
            prop_oneof![
                4 => slot_in(order).prop_map(move |slot| Op::Toggle { tree, order, slot }),
                1 => (0..=max + 70).prop_map(move |limit| Op::Prev { tree, order, limit }),
                1 => (0..=max + 70).prop_map(move |from| Op::Next { tree, order, from }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Insert, remove, lookups and the cached highest block agree with an ordered
        /// map per free index and order; `verify` holds after every step.
        #[test]
        fn matches_an_ordered_map(ops in prop::collection::vec(op(), 1..200)) {
            let mut index = FreeIndex::new(max_slot);
            let mut model: [[BTreeMap<u64, u32>; 3]; 2] = Default::default();
            let mut next_node = 0u32;
            for op in ops {
                match op {
                    Op::Toggle { tree, order, slot } => {
                        // A block is clear or dirty: a slot is in one free index at most,
                        // so a slot of the other index moves (as `reset_clear` does).
                        let leaf = index.ensure(order, slot).unwrap();
                        prop_assert_eq!(index.leaf_of(order, slot), Some(leaf));
                        if model[1 - tree][order as usize].remove(&slot).is_some() {
                            index.remove(1 - tree, order, slot, leaf);
                        }
                        let m = &mut model[tree][order as usize];
                        if m.remove(&slot).is_some() {
                            index.remove(tree, order, slot, leaf);
                        } else {
                            next_node += 1;
                            index.insert(tree, order, slot, next_node, leaf);
                            m.insert(slot, next_node);
                        }
                    }
                    Op::Prev { tree, order, limit } => {
                        let expect = model[tree][order as usize]
                            .range(..limit)
                            .next_back()
                            .map(|(&s, &n)| (s, n));
                        prop_assert_eq!(index.prev(tree, order, limit), expect);
                    }
                    Op::Next { tree, order, from } => {
                        let expect = model[tree][order as usize]
                            .range(from..)
                            .next()
                            .map(|(&s, &n)| (s, n));
                        prop_assert_eq!(index.next(tree, order, from), expect);
                    }
                }
                for (tree, per_order) in model.iter().enumerate() {
                    for (order, m) in (0u32..).zip(per_order.iter()) {
                        let last = m.iter().next_back().map(|(&s, &n)| (s, n));
                        prop_assert_eq!(index.last(tree, order), last);
                    }
                }
                for order in 0..3u32 {
                    let count = index.verify(order).unwrap();
                    prop_assert_eq!(
                        count,
                        [model[0][order as usize].len() as u64, model[1][order as usize].len() as u64]
                    );
                }
            }
            // Membership, including slots whose radix path was never allocated.
            for (tree, per_order) in model.iter().enumerate() {
                for (order, m) in (0u32..).zip(per_order.iter()) {
                    for (&slot, &node) in m {
                        prop_assert_eq!(index.get(tree, order, slot), Some(node));
                    }
                }
            }
            prop_assert_eq!(index.get(0, 0, max_slot(0)), model[0][0].get(&max_slot(0)).copied());
            prop_assert_eq!(index.get(1, 0, 1 << 27), model[1][0].get(&(1 << 27)).copied());
            prop_assert_eq!(index.get(0, 0, u64::MAX), None);
        }
    }

    #[test]
    fn removing_the_highest_block_finds_the_next_one_in_another_subtree() {
        let mut index = FreeIndex::new(max_slot);
        for (slot, node) in [(5u64, 1u32), (64 * 64 * 64 + 3, 2), (1 << 28, 3)] {
            let leaf = index.ensure(0, slot).unwrap();
            index.insert(1, 0, slot, node, leaf);
        }
        assert_eq!(index.last(1, 0), Some((1 << 28, 3)));
        let leaf = |index: &FreeIndex, slot| index.leaf_of(0, slot).unwrap();
        index.remove(1, 0, 1 << 28, leaf(&index, 1 << 28));
        assert_eq!(index.last(1, 0), Some((64 * 64 * 64 + 3, 2)));
        index.remove(1, 0, 64 * 64 * 64 + 3, leaf(&index, 64 * 64 * 64 + 3));
        assert_eq!(index.last(1, 0), Some((5, 1)));
        assert_eq!(index.last(0, 0), None);
        index.remove(1, 0, 5, leaf(&index, 5));
        assert_eq!(index.last(1, 0), None);
        assert_eq!(index.verify(0), Ok([0, 0]));
        // Five levels for 2^28 + 12345 slots: nothing below the root survives as
        // non-empty, but the nodes stay allocated for the next insert.
        assert_eq!(index.levels[0], 5);
        assert!(index.pool.iter().all(|n| n.bits == [0, 0]));
    }
}
