//! State transitions of blocks, each changing the block, the per-order counters,
//! `avail`/`clear_avail` and the free index together; splitting and merging;
//! the metadata pair pool with its fault-injection hook; and the undo journal that makes
//! every allocation all-or-nothing.
//!
//! Order of the rules, as `buddy.c`: the tree a free block lives in is a function of its
//! clear bit, so the bit only changes while the block is out of the free index.

use alloc::vec::Vec;

use crate::arena::{tree_of, Node, State, NIL};
use crate::{Block, BuddyAllocator, Error, Result};

/// One reversible step of an allocation, recorded so that a failure anywhere can put
/// the allocator back exactly as it was (undo runs the journal backwards).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// A free block was split; `was_clear` is its clear bit before the split.
    Split { block: u32, was_clear: bool },
    /// A free block was allocated.
    Take { block: u32 },
    /// An allocated block was made free again (the start of a trim).
    Release { block: u32 },
    /// Force-merge joined the two free children of `parent` into a dirty free block.
    Merge {
        parent: u32,
        left_clear: bool,
        right_clear: bool,
    },
}

/// Makes room for `additional` more elements in `v`, allocating only when its spare
/// capacity is short (the check inline, the allocation out of line: every block of an
/// allocation reserves a journal step and a token slot).
///
/// # Errors
/// [`Error::OutOfMemory`] if `v` cannot grow; `v` is unchanged then.
#[inline]
pub(crate) fn reserve<T>(v: &mut Vec<T>, additional: usize) -> Result<()> {
    if v.capacity() - v.len() >= additional {
        return Ok(());
    }
    grow(v, additional)
}

#[cold]
#[inline(never)]
fn grow<T>(v: &mut Vec<T>, additional: usize) -> Result<()> {
    v.try_reserve(additional).map_err(|_| Error::OutOfMemory)
}

impl BuddyAllocator {
    // ---- node accessors ---------------------------------------------------------------

    #[inline]
    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    /// Bytes in a block of `order`.
    #[inline]
    pub(crate) fn order_size(&self, order: u32) -> u64 {
        1u64 << (order + self.chunk_shift)
    }

    /// `[offset, end)` of node `i`.
    #[inline]
    pub(crate) fn span(&self, i: u32) -> (u64, u64) {
        let n = self.node(i);
        let off = n.offset();
        (off, off + self.order_size(n.order()))
    }

    /// The other child of `i`'s parent.
    #[inline]
    pub(crate) fn sibling(&self, i: u32) -> u32 {
        let left = self.node(self.node(i).parent).left;
        if i == left {
            left + 1
        } else {
            left
        }
    }

    /// The token the caller receives for allocated node `i`.
    pub(crate) fn token(&self, i: u32) -> Block {
        let n = self.node(i);
        Block {
            offset: n.offset(),
            owner: self.id,
            idx: i,
            // Orders are at most 51 and chunk shifts at most 63 (checked in `new`).
            order: n.order() as u8,
            chunk_shift: self.chunk_shift as u8,
            clear: n.is_clear(),
        }
    }

    // ---- the only ways a block enters or leaves the free index --------------------------

    /// The slot of node `i` in the free index of its order.
    #[inline]
    pub(crate) fn slot(&self, i: u32) -> u64 {
        let n = self.node(i);
        n.offset() >> (n.order() + self.chunk_shift)
    }

    /// Makes detached block `i` free (upstream `mark_free`): counters, accounting and
    /// the free index (whose path for `i` was ensured when `i` was created).
    pub(crate) fn set_free(&mut self, i: u32) {
        let order = self.node(i).order();
        let clear = self.node(i).is_clear();
        let size = self.order_size(order);
        let tree = tree_of(clear);
        debug_assert_eq!(self.node(i).state(), State::Unused);
        self.n_free[tree][order as usize] += 1;
        self.orders_free[tree] |= 1 << order;
        self.avail += size;
        if clear {
            self.clear_avail += size;
        }
        let (slot, leaf) = (self.slot(i), self.node(i).leaf);
        self.index.insert(tree, order, slot, i, leaf);
        self.node_mut(i).set_state(State::Free);
    }

    /// Takes free block `i` out of the free index into `to` (`Unused`, `Allocated` or
    /// `Split`).
    pub(crate) fn unset_free(&mut self, i: u32, to: State) {
        let order = self.node(i).order();
        let clear = self.node(i).is_clear();
        let size = self.order_size(order);
        debug_assert_eq!(self.node(i).state(), State::Free);
        let tree = tree_of(clear);
        self.n_free[tree][order as usize] -= 1;
        if self.n_free[tree][order as usize] == 0 {
            self.orders_free[tree] &= !(1 << order);
        }
        let (slot, leaf) = (self.slot(i), self.node(i).leaf);
        self.index.remove(tree, order, slot, leaf);
        self.avail -= size;
        if clear {
            self.clear_avail -= size;
        }
        if to == State::Allocated {
            self.n_used[order as usize] += 1;
        }
        self.node_mut(i).set_state(to);
    }

    /// Detaches allocated block `i` (the first step of freeing it).
    pub(crate) fn unset_allocated(&mut self, i: u32) {
        let order = self.node(i).order();
        debug_assert_eq!(self.node(i).state(), State::Allocated);
        self.n_used[order as usize] -= 1;
        self.node_mut(i).set_state(State::Unused);
    }

    // ---- the pair pool ------------------------------------------------------------------

    /// Takes a node pair for a split: the metadata allocation of this allocator
    /// (upstream allocates two slab objects per split). Consults the fault-injection
    /// hook first.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if the hook says so or the arena cannot grow; nothing
    /// has changed then.
    fn acquire_pair(&mut self) -> Result<u32> {
        #[cfg(feature = "fault-injection")]
        if let Some(left) = self.fail_alloc_after {
            if left == 0 {
                return Err(Error::OutOfMemory);
            }
            self.fail_alloc_after = Some(left - 1);
        }
        if self.free_pair != NIL {
            let pair = self.free_pair;
            self.free_pair = self.node(pair).parent;
            self.n_free_pairs -= 1;
            return Ok(pair);
        }
        let len = self.nodes.len();
        let pair = u32::try_from(len).map_err(|_| Error::OutOfMemory)?;
        if pair >= NIL - 2 {
            return Err(Error::OutOfMemory);
        }
        self.nodes.try_reserve(2).map_err(|_| Error::OutOfMemory)?;
        let blank = Node::new(0, 0, false, NIL, NIL);
        self.nodes.push(blank);
        self.nodes.push(blank);
        Ok(pair)
    }

    /// Takes back the pair most recently given back, for an undo. Undo replays the
    /// journal backwards, so the pair a merge gave back is on top of the list again.
    fn reacquire_pair(&mut self) -> u32 {
        debug_assert_ne!(self.free_pair, NIL, "undo of a merge needs its pair back");
        if self.free_pair == NIL {
            // Unreachable (see above); growing keeps the tree consistent regardless.
            let pair = self.nodes.len() as u32;
            let blank = Node::new(0, 0, false, NIL, NIL);
            self.nodes.push(blank);
            self.nodes.push(blank);
            return pair;
        }
        let pair = self.free_pair;
        self.free_pair = self.node(pair).parent;
        self.n_free_pairs -= 1;
        pair
    }

    /// Gives pair `left`, `left + 1` back to the pool.
    fn release_pair(&mut self, left: u32) {
        let next = self.free_pair;
        let node = self.node_mut(left);
        node.set_state(State::Unused);
        node.parent = next;
        self.node_mut(left + 1).set_state(State::Unused);
        self.free_pair = left;
        self.n_free_pairs += 1;
    }

    /// Records `step`; reserves first so that a journal that cannot grow fails before
    /// the step is taken.
    #[inline]
    fn reserve_step(&mut self) -> Result<()> {
        reserve(&mut self.journal, 1)
    }

    // ---- split and merge ----------------------------------------------------------------

    /// Makes sure the free index can take both children of `b` (the metadata the
    /// index needs for a split, allocated before anything changes); returns their
    /// radix leaf.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`]; nothing has changed logically then.
    #[inline]
    fn ensure_children(&mut self, b: u32) -> Result<u32> {
        let node = self.node(b);
        let (offset, child_order) = (node.offset(), node.order() - 1);
        // The pair the split will take last held the children of the same block when a
        // merge of it gave it back (LIFO: a free that merges up and an allocation that
        // splits the same block down again, as range churn does). Its leaf is still the
        // leaf of that position: radix nodes never move.
        if self.free_pair != NIL {
            let stale = self.node(self.free_pair);
            if stale.leaf != NIL && stale.offset() == offset && stale.order() == child_order {
                return Ok(stale.leaf);
            }
        }
        let slot = offset >> (child_order + self.chunk_shift);
        self.index.ensure(child_order, slot)
    }

    /// Splits free block `b` into two free halves that inherit its clear bit; `b`
    /// becomes split and loses the bit (upstream `split_block`). Journaled.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] (pair, free index or journal); nothing has changed then.
    pub(crate) fn split(&mut self, b: u32) -> Result<u32> {
        debug_assert_eq!(self.node(b).state(), State::Free);
        debug_assert!(self.node(b).order() > 0);
        self.reserve_step()?;
        let leaf = self.ensure_children(b)?;
        let left = self.acquire_pair()?;
        let was_clear = self.node(b).is_clear();
        self.journal.push(Step::Split {
            block: b,
            was_clear,
        });
        self.split_into(b, left, [was_clear, was_clear], leaf);
        Ok(left)
    }

    /// The mutation of a split, shared with the undo of a merge: `b` (free) becomes the
    /// parent of `left`, `left + 1` with the given clear bits, whose radix leaf is
    /// `leaf`.
    fn split_into(&mut self, b: u32, left: u32, clear: [bool; 2], leaf: u32) {
        self.unset_free(b, State::Split);
        let (offset, order) = (self.node(b).offset(), self.node(b).order());
        let half = self.order_size(order - 1);
        self.nodes[left as usize] = Node::new(offset, order - 1, clear[0], b, leaf);
        self.nodes[left as usize + 1] = Node::new(offset + half, order - 1, clear[1], b, leaf);
        self.set_free(left);
        self.set_free(left + 1);
        let node = self.node_mut(b);
        node.set_clear(false);
        node.left = left;
    }

    /// Allocates free block `b` and hands its token to `out` (upstream
    /// `mark_allocated`). Journaled.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if `out` or the journal cannot grow; nothing has changed.
    pub(crate) fn take(&mut self, b: u32, out: &mut Vec<Block>) -> Result<()> {
        reserve(out, 1)?;
        self.reserve_step()?;
        self.journal.push(Step::Take { block: b });
        self.unset_free(b, State::Allocated);
        out.push(self.token(b));
        Ok(())
    }

    /// Splits free block `top` down to the `order` block containing `target` and
    /// allocates that block, handing its token to `out`. Only the halves off the path
    /// enter the free index. Journaled as the equivalent splits and take.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] (pairs, journal or `out`); the journal then undoes what
    /// was done.
    pub(crate) fn carve(
        &mut self,
        top: u32,
        target: u64,
        order: u32,
        out: &mut Vec<Block>,
    ) -> Result<()> {
        let levels = (self.node(top).order() - order) as usize;
        reserve(out, 1)?;
        reserve(&mut self.journal, levels + 1)?;
        self.unset_free(top, State::Unused);
        let mut n = top;
        while self.node(n).order() > order {
            let pair = self
                .ensure_children(n)
                .and_then(|leaf| self.acquire_pair().map(|left| (left, leaf)));
            let (left, leaf) = match pair {
                Ok(pair) => pair,
                Err(e) => {
                    self.set_free(n);
                    return Err(e);
                }
            };
            let node = *self.node(n);
            let (offset, child_order, clear) = (node.offset(), node.order() - 1, node.is_clear());
            let half = self.order_size(child_order);
            self.journal.push(Step::Split {
                block: n,
                was_clear: clear,
            });
            self.nodes[left as usize] = Node::new(offset, child_order, clear, n, leaf);
            self.nodes[left as usize + 1] = Node::new(offset + half, child_order, clear, n, leaf);
            let node = self.node_mut(n);
            node.set_state(State::Split);
            node.set_clear(false);
            node.left = left;
            let (path, other) = if target >= offset + half {
                (left + 1, left)
            } else {
                (left, left + 1)
            };
            self.set_free(other);
            n = path;
        }
        self.journal.push(Step::Take { block: n });
        self.n_used[order as usize] += 1;
        self.node_mut(n).set_state(State::Allocated);
        out.push(self.token(n));
        Ok(())
    }

    /// Makes allocated block `b` free without merging it (the first step of a trim).
    /// Journaled.
    pub(crate) fn release(&mut self, b: u32) -> Result<()> {
        self.reserve_step()?;
        self.journal.push(Step::Release { block: b });
        self.unset_allocated(b);
        self.set_free(b);
        Ok(())
    }

    /// Frees allocated block `b` with the given clear bit and merges it with free
    /// buddies of the same clear state (upstream `gpu_buddy_free_block`: clear and dirty
    /// buddies are never merged here; two clear halves make a clear parent).
    /// Kept out of line: the one entry of every free path, which instruction-count
    /// measurements bracket.
    #[inline(never)]
    pub(crate) fn free_and_merge(&mut self, mut b: u32, clear: bool) {
        self.unset_allocated(b);
        self.node_mut(b).set_clear(clear);
        loop {
            let parent = self.node(b).parent;
            if parent == NIL {
                break;
            }
            let buddy = self.sibling(b);
            if self.node(buddy).state() != State::Free || self.node(buddy).is_clear() != clear {
                break;
            }
            self.unset_free(buddy, State::Unused);
            let left = self.node(parent).left;
            self.release_pair(left);
            let node = self.node_mut(parent);
            node.left = NIL;
            node.set_state(State::Unused);
            node.set_clear(clear);
            b = parent;
        }
        self.set_free(b);
    }

    /// Force-merge of free block `b` whose buddy is free (upstream `__force_merge` +
    /// `__gpu_buddy_free(force)`): merges upward while the buddy is free, whatever the
    /// clear states; merged parents are dirty. Returns the resulting free block.
    /// With `journal`, every merge is recorded; the caller reserved room for
    /// `max_order + 1` steps.
    pub(crate) fn force_merge_block(&mut self, mut b: u32, journal: bool) -> u32 {
        self.unset_free(b, State::Unused);
        loop {
            let parent = self.node(b).parent;
            if parent == NIL {
                break;
            }
            let buddy = self.sibling(b);
            if self.node(buddy).state() != State::Free {
                break;
            }
            self.unset_free(buddy, State::Unused);
            let left = self.node(parent).left;
            if journal {
                debug_assert!(self.journal.len() < self.journal.capacity());
                self.journal.push(Step::Merge {
                    parent,
                    left_clear: self.node(left).is_clear(),
                    right_clear: self.node(left + 1).is_clear(),
                });
            }
            self.release_pair(left);
            let node = self.node_mut(parent);
            node.left = NIL;
            node.set_state(State::Unused);
            node.set_clear(false);
            b = parent;
        }
        self.set_free(b);
        b
    }

    // ---- all or nothing -----------------------------------------------------------------

    /// Runs `op` as one all-or-nothing allocation appending to `out`: on error the
    /// journal is replayed backwards, `out` is cut back to its length on entry, and the
    /// allocator is exactly as before (blocks, clear bits, counters).
    pub(crate) fn session(
        &mut self,
        out: &mut Vec<Block>,
        op: impl FnOnce(&mut Self, &mut Vec<Block>) -> Result<()>,
    ) -> Result<()> {
        let mark = out.len();
        self.journal.clear();
        let result = op(self, out);
        if result.is_err() {
            self.undo();
            // The tokens past `mark` name blocks that are free again.
            out.truncate(mark);
        }
        self.journal.clear();
        result
    }

    /// Reverses every journaled step, newest first. Never allocates: each undo of a
    /// merge takes back the pair that merge gave up (LIFO pool).
    fn undo(&mut self) {
        while let Some(step) = self.journal.pop() {
            match step {
                Step::Take { block } => {
                    self.unset_allocated(block);
                    self.set_free(block);
                }
                Step::Release { block } => {
                    self.unset_free(block, State::Allocated);
                }
                Step::Split { block, was_clear } => {
                    let left = self.node(block).left;
                    self.unset_free(left, State::Unused);
                    self.unset_free(left + 1, State::Unused);
                    self.release_pair(left);
                    let node = self.node_mut(block);
                    node.left = NIL;
                    node.set_state(State::Unused);
                    node.set_clear(was_clear);
                    self.set_free(block);
                }
                Step::Merge {
                    parent,
                    left_clear,
                    right_clear,
                } => {
                    let left = self.reacquire_pair();
                    // The children existed before the merge, so their radix path does.
                    let node = self.node(parent);
                    let child_order = node.order() - 1;
                    let slot = node.offset() >> (child_order + self.chunk_shift);
                    let leaf = self.index.leaf_of(child_order, slot).unwrap_or(NIL);
                    self.split_into(parent, left, [left_clear, right_clear], leaf);
                }
            }
        }
    }
}
