//! [`BuddyAllocator::check`]: re-derives every invariant from the block tree, whatever
//! it costs (upstream KUnit `check_block`/`check_mm`, plus our indexes).

use crate::arena::{tree_of, State, NIL, ORDERS};
use crate::{BuddyAllocator, CheckError};

impl BuddyAllocator {
    /// Verifies the whole structure: roots tile `[0, size)` largest first; every block
    /// is naturally aligned, its children are its two halves and point back to it;
    /// split blocks carry no clear bit; no two free buddies share a clear state (they
    /// would have merged); the free index holds exactly the free blocks (each in its
    /// slot, with consistent summaries and cached highest blocks); the per-order
    /// counters, `avail` and `clear_avail` match the tree; every metadata node is either
    /// in the tree or on the unused-pair list.
    ///
    /// # Errors
    /// The first violation found, with the block it concerns.
    ///
    /// # Complexity
    /// O(metadata nodes).
    pub fn check(&self) -> Result<(), CheckError> {
        let err = |what, offset, order| Err(CheckError::new(what, offset, order));
        if self.n_roots != (self.size >> self.chunk_shift).count_ones() {
            return err("number of roots is not the popcount of the size", 0, 0);
        }
        let mut n_free = [[0u64; ORDERS]; 2];
        let mut n_used = [0u64; ORDERS];
        let (mut avail, mut clear_avail, mut in_tree) = (0u64, 0u64, 0u64);
        let mut expect_offset = 0u64;
        let mut prev_order = u32::MAX;
        let mut stack = [0u32; 64];
        for root in 0..self.n_roots {
            let node = self.node(root);
            let (off, order) = (node.offset(), node.order());
            if off != expect_offset || order >= prev_order || node.parent != NIL {
                return err("roots do not tile the allocator largest first", off, order);
            }
            prev_order = order;
            expect_offset = off + self.order_size(order);
            let mut sp = 1;
            stack[0] = root;
            while sp > 0 {
                sp -= 1;
                let n = stack[sp];
                in_tree += 1;
                let node = self.node(n);
                let (off, order) = (node.offset(), node.order());
                let size = self.order_size(order);
                if order > self.max_order || off % size != 0 {
                    return err("block misaligned or order out of range", off, order);
                }
                if self.index.leaf_of(order, self.slot(n)) != Some(node.leaf) {
                    return err("block does not carry its free index leaf", off, order);
                }
                match node.state() {
                    State::Split => {
                        let left = node.left;
                        if order == 0 || left == NIL || left as usize + 1 >= self.nodes.len() {
                            return err("split block without a valid child pair", off, order);
                        }
                        if node.is_clear() {
                            return err("split block carries the clear bit", off, order);
                        }
                        let (l, r) = (self.node(left), self.node(left + 1));
                        if l.parent != n
                            || r.parent != n
                            || l.order() + 1 != order
                            || r.order() + 1 != order
                            || l.offset() != off
                            || r.offset() != off + size / 2
                        {
                            return err(
                                "children are not the two halves of their parent",
                                off,
                                order,
                            );
                        }
                        if sp + 2 > stack.len() {
                            return err("tree deeper than the largest order", off, order);
                        }
                        stack[sp] = left + 1;
                        stack[sp + 1] = left;
                        sp += 2;
                    }
                    State::Free => {
                        let tree = tree_of(node.is_clear());
                        if node.left != NIL {
                            return err("free block with children", off, order);
                        }
                        if self.index.get(tree, order, self.slot(n)) != Some(n) {
                            return err("free block missing from the free index", off, order);
                        }
                        if node.parent != NIL {
                            let buddy = self.node(self.sibling(n));
                            if buddy.state() == State::Free && buddy.is_clear() == node.is_clear() {
                                return err(
                                    "free buddies of the same clear state not merged",
                                    off,
                                    order,
                                );
                            }
                        }
                        n_free[tree][order as usize] += 1;
                        avail += size;
                        if node.is_clear() {
                            clear_avail += size;
                        }
                    }
                    State::Allocated => {
                        if node.left != NIL {
                            return err("allocated block with children", off, order);
                        }
                        n_used[order as usize] += 1;
                    }
                    State::Unused => return err("unused node linked in the tree", off, order),
                }
            }
        }
        if expect_offset != self.size {
            return err("roots do not cover the allocator", expect_offset, 0);
        }
        if n_free != self.n_free || n_used != self.n_used {
            return err("per-order block counters disagree with the tree", 0, 0);
        }
        for (tree, counts) in n_free.iter().enumerate() {
            let orders = counts
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .fold(0u64, |acc, (o, _)| acc | 1 << o);
            if orders != self.orders_free[tree] {
                return err("orders with free blocks disagree with the counters", 0, 0);
            }
        }
        if avail != self.avail || clear_avail != self.clear_avail {
            return err("avail or clear_avail disagree with the free blocks", 0, 0);
        }
        let (mut pair, mut pairs) = (self.free_pair, 0u64);
        while pair != NIL {
            if pairs > self.n_free_pairs || pair as usize + 1 >= self.nodes.len() {
                return err("unused-pair list is corrupt", 0, 0);
            }
            if self.node(pair).state() != State::Unused
                || self.node(pair + 1).state() != State::Unused
            {
                return err("a node on the unused-pair list is in use", 0, 0);
            }
            pairs += 1;
            pair = self.node(pair).parent;
        }
        if pairs != self.n_free_pairs || in_tree + 2 * pairs != self.nodes.len() as u64 {
            return err(
                "metadata nodes leaked: neither in the tree nor unused",
                0,
                0,
            );
        }
        for order in 0..ORDERS as u32 {
            // Every free block is in the index (above); equal counts leave no room for
            // anything else in it.
            match self.index.verify(order) {
                Ok(count) if count == [n_free[0][order as usize], n_free[1][order as usize]] => {}
                Ok(_) => return err("free index holds blocks that are not free", 0, order),
                Err(what) => return err(what, 0, order),
            }
        }
        if !self.journal.is_empty() {
            return err("undo journal not empty between calls", 0, 0);
        }
        Ok(())
    }
}
