//! [`BuddyAllocator`]: construction, the public entry points and accessors.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arena::{tree_of, Node, State, NIL, ORDERS};
use crate::index::FreeIndex;
use crate::place::Params;
use crate::state::Step;
use crate::{
    AllocFlags, Block, BlockInfo, BlockState, BuddyRequest, Error, FreeFlags, Leak, Result, Window,
};

/// Smallest chunk size (upstream `SZ_4K`).
pub const MIN_CHUNK_SIZE: u64 = 4096;

/// Source of allocator identities, so a block can name the allocator that made it.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A buddy allocator over `[0, size)` bytes with Linux `gpu_buddy`/`drm_buddy`
/// semantics. See the [crate documentation](crate) for the model.
///
/// # Synchronization
/// None inside: every mutating call takes `&mut self`. Share it behind a lock
/// (upstream: "a simple mutex around alloc and free should suffice").
pub struct BuddyAllocator {
    /// Block metadata; roots at `0..n_roots` (ascending offsets), then child pairs.
    pub(crate) nodes: Vec<Node>,
    /// Number of roots: the binary decomposition of `size`, largest first.
    pub(crate) n_roots: u32,
    /// Head of the list of unused pairs (linked through the left node's `parent`).
    pub(crate) free_pair: u32,
    /// Length of that list.
    pub(crate) n_free_pairs: u64,
    /// Managed bytes (a multiple of the chunk size).
    pub(crate) size: u64,
    /// log2(chunk_size).
    pub(crate) chunk_shift: u32,
    /// log2(size) - log2(chunk_size).
    pub(crate) max_order: u32,
    /// Σ sizes of free blocks.
    pub(crate) avail: u64,
    /// Σ sizes of free blocks with the clear bit.
    pub(crate) clear_avail: u64,
    /// Free blocks per free index (clear, dirty) and order (upstream `free_scoreboard`).
    pub(crate) n_free: [[u64; ORDERS]; 2],
    /// Allocated blocks per order (upstream `used_scoreboard`).
    pub(crate) n_used: [u64; ORDERS],
    /// The free blocks per free index and order (upstream's per-order rbtrees).
    pub(crate) index: FreeIndex,
    /// Per free index: bit `o` set iff `n_free[index][o] > 0`.
    pub(crate) orders_free: [u64; 2],
    /// Identity stamped on every block token.
    pub(crate) id: usize,
    /// Fault injection: metadata allocations left before they start failing.
    #[cfg(feature = "fault-injection")]
    pub(crate) fail_alloc_after: Option<u64>,
    /// Undo journal of the allocation in progress (empty between calls; kept for its
    /// capacity).
    pub(crate) journal: Vec<Step>,
}

impl core::fmt::Debug for BuddyAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BuddyAllocator")
            .field("size", &self.size)
            .field("chunk_size", &self.chunk_size())
            .field("max_order", &self.max_order)
            .field("n_roots", &self.n_roots)
            .field("avail", &self.avail)
            .field("clear_avail", &self.clear_avail)
            .finish_non_exhaustive()
    }
}

impl BuddyAllocator {
    /// Creates an allocator managing `size` bytes (rounded down to `chunk_size`) in
    /// blocks of `chunk_size << order` (upstream `gpu_buddy_init`). A size that is not a
    /// power of two gets one root per set bit, largest at offset 0. Everything starts
    /// free and dirty.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `size < chunk_size`, `chunk_size < 4 KiB`, or
    /// `chunk_size` is not a power of two (checked in that order);
    /// [`Error::OutOfMemory`] if the root metadata cannot be allocated.
    ///
    /// # Complexity
    /// O(number of roots) ≤ 52.
    ///
    /// # Examples
    /// ```
    /// let mm = pddgpu_buddy::BuddyAllocator::new(10 << 30, 4096)?;
    /// assert_eq!(mm.roots().collect::<Vec<_>>(), [(0, 8 << 30), (8 << 30, 2 << 30)]);
    /// assert_eq!((mm.max_order(), mm.avail()), (21, 10 << 30));
    /// # Ok::<(), pddgpu_buddy::Error>(())
    /// ```
    pub fn new(size: u64, chunk_size: u64) -> Result<Self> {
        if size < chunk_size || chunk_size < MIN_CHUNK_SIZE || !chunk_size.is_power_of_two() {
            return Err(Error::InvalidArgument);
        }
        let chunk_shift = chunk_size.trailing_zeros();
        let size = size & !(chunk_size - 1);
        let max_order = (63 - size.leading_zeros()) - chunk_shift;
        let n_roots = (size >> chunk_shift).count_ones();
        let mut nodes = Vec::new();
        nodes
            .try_reserve(n_roots as usize + 64)
            .map_err(|_| Error::OutOfMemory)?;
        let mut mm = Self {
            nodes,
            n_roots,
            free_pair: NIL,
            n_free_pairs: 0,
            size,
            chunk_shift,
            max_order,
            avail: 0,
            clear_avail: 0,
            n_free: [[0; ORDERS]; 2],
            n_used: [0; ORDERS],
            index: FreeIndex::new(|order| (size - 1).checked_shr(order + chunk_shift).unwrap_or(0)),
            orders_free: [0; 2],
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            #[cfg(feature = "fault-injection")]
            fail_alloc_after: None,
            journal: Vec::new(),
        };
        let (mut offset, mut left) = (0u64, size);
        for root in 0..n_roots {
            let order = (63 - left.leading_zeros()) - chunk_shift;
            let leaf = mm.index.ensure(order, offset >> (order + chunk_shift))?;
            mm.nodes.push(Node::new(offset, order, false, NIL, leaf));
            mm.set_free(root);
            offset += mm.order_size(order);
            left -= mm.order_size(order);
        }
        Ok(mm)
    }

    /// Allocates `req.size` bytes as a list of blocks (the typed form of
    /// [`alloc_blocks`](Self::alloc_blocks); see there and the crate docs for the
    /// placement rules). Blocks come in allocation order; their total is `req.size`
    /// (the rounded size with `TRIM_DISABLE`).
    ///
    /// # Errors
    /// As [`alloc_blocks`](Self::alloc_blocks); additionally
    /// [`Error::InvalidArgument`] if `req.flags` contains `RANGE` or `TOPDOWN` (use
    /// `req.window`) or the window is empty.
    ///
    /// # Examples
    /// ```
    /// use pddgpu_buddy::{AllocFlags, BuddyAllocator, BuddyRequest, FreeFlags, Window};
    /// let mut vram = BuddyAllocator::new(1 << 30, 4096)?;
    /// // Lands at the top of the address range.
    /// let blocks = vram.alloc(&BuddyRequest::new(16 << 20, 16 << 20)?)?;
    /// assert_eq!((blocks[0].offset(), blocks[0].order()), ((1 << 30) - (16 << 20), 12));
    /// vram.free_blocks(blocks, FreeFlags::empty())?;
    /// // A range request takes the lowest address of its window.
    /// let req = BuddyRequest::new(64 << 10, 4096)?.window(Window::Range(0..256 << 20));
    /// let blocks = vram.alloc(&req)?;
    /// assert_eq!(blocks[0].offset(), 0);
    /// vram.free_blocks(blocks, FreeFlags::CLEARED)?;
    /// assert_eq!((vram.avail(), vram.clear_avail()), (1 << 30, 64 << 10));
    /// // CLEAR prefers the cleared block.
    /// let req = BuddyRequest::new(64 << 10, 4096)?.flags(AllocFlags::CLEAR);
    /// let blocks = vram.alloc(&req)?;
    /// assert!(blocks[0].is_clear());
    /// vram.free_blocks(blocks, FreeFlags::empty())?;
    /// # Ok::<(), pddgpu_buddy::Error>(())
    /// ```
    pub fn alloc(&mut self, req: &BuddyRequest) -> Result<Vec<Block>> {
        let mut blocks = Vec::new();
        self.alloc_into(req, &mut blocks)?;
        Ok(blocks)
    }

    /// As [`alloc`](Self::alloc), appending the blocks to `blocks` (as upstream appends
    /// to the caller's list), so a caller can reuse one vector. On error `blocks` is
    /// unchanged.
    ///
    /// # Errors
    /// As [`alloc`](Self::alloc).
    pub fn alloc_into(&mut self, req: &BuddyRequest, blocks: &mut Vec<Block>) -> Result<()> {
        if req
            .flags
            .intersects(AllocFlags::RANGE | AllocFlags::TOPDOWN)
        {
            return Err(Error::InvalidArgument);
        }
        let whole = (0, self.size);
        let (start, end, flags, exact_shortcut) = match &req.window {
            Window::Any => (0, self.size, req.flags, false),
            Window::TopDown => (0, self.size, req.flags | AllocFlags::TOPDOWN, false),
            Window::Range(r) => {
                if r.start >= r.end {
                    return Err(Error::InvalidArgument);
                }
                (r.start, r.end, req.flags | AllocFlags::RANGE, true)
            }
        };
        let merge = if exact_shortcut { (start, end) } else { whole };
        self.alloc_params(
            &Params {
                start,
                end,
                size: req.size,
                min_block_size: req.min_block_size.get(),
                flags,
                exact_shortcut,
                merge,
            },
            blocks,
        )
    }

    /// Allocates `size` bytes (upstream `gpu_buddy_alloc_blocks`).
    ///
    /// - Validation, in this order, all [`Error::InvalidArgument`]: `size < chunk`;
    ///   `min_block_size < chunk`; `min_block_size` not a power of two; `start`, `end`
    ///   or `size` not chunk-aligned; `end > self.size()`; `start >= self.size()` or
    ///   `size > self.size() - start`.
    /// - **Exact range**: if `start + size == end`, whatever the flags, exactly that
    ///   span is allocated as the free blocks covering it (ascending), all or nothing
    ///   ([`Error::NoSpace`] if any byte is taken, [`Error::InvalidArgument`] if
    ///   `start`/`end` are not `min_block_size`-aligned).
    /// - **Rounding**: `CONTIGUOUS` rounds `size` up to a power of two and uses it as
    ///   `min_block_size`; otherwise `size` is rounded up to `min_block_size`, except a
    ///   power of two below it (then `min_block_size` only aligns the offset). A rounded
    ///   request larger than the allocator or its largest order is
    ///   [`Error::InvalidArgument`], unless `CONTIGUOUS` without `RANGE`, which goes to
    ///   try-harder.
    /// - **Placement**: see [`AllocFlags`]; blocks are taken greedily, the largest
    ///   first, never smaller than `min_block_size`; then the result is trimmed back to
    ///   `size` unless `TRIM_DISABLE`.
    /// - Without `RANGE`, `start`/`end` still bound force-merging (as upstream).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] as above and for `RANGE` with `end <= start`
    /// (upstream would search from `start` to the end of memory);
    /// [`Error::NoSpace`]; [`Error::OutOfMemory`] when block metadata cannot be
    /// allocated (upstream ignores this failure while trimming; we report it). On any
    /// error the allocator is exactly as before the call.
    ///
    /// # Complexity
    /// O(blocks × depth) for the searches and splits; force-merge and try-harder are
    /// slow paths (O(free blocks below the needed order × depth)).
    ///
    /// # Examples
    /// ```
    /// use pddgpu_buddy::{AllocFlags, BuddyAllocator, FreeFlags};
    /// const K: u64 = 1024;
    /// let mut mm = BuddyAllocator::new(16 * K * K, 4 * K)?;
    /// let page = mm.alloc_blocks(0, 16 * K * K, 4 * K, 4 * K, AllocFlags::empty())?;
    /// assert_eq!(page[0].offset(), 16 * K * K - 4 * K); // from the top
    /// let blocks = mm.alloc_blocks(0, 16 * K * K, 12 * K, 4 * K, AllocFlags::CONTIGUOUS)?;
    /// let spans: Vec<_> = blocks.iter().map(|b| (b.offset(), b.size())).collect();
    /// assert_eq!(spans, [(16 * K * K - 32 * K, 8 * K), (16 * K * K - 24 * K, 4 * K)]);
    /// mm.free_blocks(page, FreeFlags::empty())?;
    /// mm.free_blocks(blocks, FreeFlags::empty())?;
    /// assert_eq!(mm.avail(), 16 * K * K);
    /// # Ok::<(), pddgpu_buddy::Error>(())
    /// ```
    pub fn alloc_blocks(
        &mut self,
        start: u64,
        end: u64,
        size: u64,
        min_block_size: u64,
        flags: AllocFlags,
    ) -> Result<Vec<Block>> {
        let mut blocks = Vec::new();
        self.alloc_blocks_into(start, end, size, min_block_size, flags, &mut blocks)?;
        Ok(blocks)
    }

    /// As [`alloc_blocks`](Self::alloc_blocks), appending to `blocks` (upstream's
    /// `list_splice_tail`). On error `blocks` is unchanged.
    ///
    /// # Errors
    /// As [`alloc_blocks`](Self::alloc_blocks).
    pub fn alloc_blocks_into(
        &mut self,
        start: u64,
        end: u64,
        size: u64,
        min_block_size: u64,
        flags: AllocFlags,
        blocks: &mut Vec<Block>,
    ) -> Result<()> {
        self.alloc_params(
            &Params {
                start,
                end,
                size,
                min_block_size,
                flags,
                exact_shortcut: true,
                merge: (start, end),
            },
            blocks,
        )
    }

    /// The node of `block` if it is an allocated block of this allocator.
    fn resolve(&self, block: &Block) -> Result<u32> {
        let node = self
            .nodes
            .get(block.idx as usize)
            .ok_or(Error::InvalidArgument)?;
        let genuine = block.owner == self.id
            && node.state() == State::Allocated
            && node.offset() == block.offset
            && node.order() == u32::from(block.order);
        if genuine {
            Ok(block.idx)
        } else {
            Err(Error::InvalidArgument)
        }
    }

    /// Frees one block (upstream `gpu_buddy_free_list` of one block): `CLEARED` marks
    /// it clear, otherwise it becomes dirty; it then merges with free buddies of the
    /// same clear state.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `block` belongs to another allocator (the token is
    /// dropped; its memory stays allocated there).
    ///
    /// # Complexity
    /// O(depth).
    pub fn free_block(&mut self, block: Block, flags: FreeFlags) -> Result<()> {
        let idx = self.resolve(&block)?;
        self.free_and_merge(idx, flags.contains(FreeFlags::CLEARED));
        Ok(())
    }

    /// Frees a list of blocks in order (upstream `gpu_buddy_free_list`), all or
    /// nothing.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if any block belongs to another allocator; then none
    /// is freed (the tokens are dropped and their memory stays allocated; `fini`
    /// reports it).
    ///
    /// # Complexity
    /// O(blocks × depth).
    pub fn free_blocks(&mut self, mut blocks: Vec<Block>, flags: FreeFlags) -> Result<()> {
        self.free_list(&mut blocks, flags)
    }

    /// Frees every block of `blocks` in order and leaves it empty, keeping its capacity
    /// (upstream `gpu_buddy_free_list`, which reinitialises the list), all or nothing.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if any block belongs to another allocator; then none
    /// is freed and `blocks` is unchanged.
    ///
    /// # Complexity
    /// O(blocks × depth).
    pub fn free_list(&mut self, blocks: &mut Vec<Block>, flags: FreeFlags) -> Result<()> {
        for block in blocks.iter() {
            self.resolve(block)?;
        }
        let clear = flags.contains(FreeFlags::CLEARED);
        for block in blocks.drain(..) {
            self.free_and_merge(block.idx, clear);
        }
        Ok(())
    }

    /// Trims the single block in `blocks` to `new_size` bytes starting at `start`
    /// (default: the block's offset), replacing it with the blocks covering that span
    /// (ascending, clear bit inherited); the rest of the block becomes free (upstream
    /// `gpu_buddy_block_trim`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`], checked in upstream's order, if `blocks` does not hold
    /// exactly one block, the block is not this allocator's, `new_size` exceeds the
    /// block, is 0 or not chunk-aligned; `new_size` equal to the block size is a no-op;
    /// then if `start` is below the block, not chunk-aligned, or the span overflows the
    /// block. [`Error::OutOfMemory`]. On error `blocks` is unchanged.
    ///
    /// # Examples
    /// ```
    /// use pddgpu_buddy::{AllocFlags, BuddyAllocator, FreeFlags};
    /// let mut mm = BuddyAllocator::new(1 << 20, 4096)?;
    /// let mut blocks = mm.alloc_blocks(0, 1 << 20, 64 << 10, 64 << 10, AllocFlags::empty())?;
    /// let base = blocks[0].offset();
    /// mm.block_trim(&mut blocks, Some(base + (16 << 10)), 24 << 10)?;
    /// let spans: Vec<_> = blocks.iter().map(|b| (b.offset() - base, b.size())).collect();
    /// assert_eq!(spans, [(16 << 10, 16 << 10), (32 << 10, 8 << 10)]);
    /// assert_eq!(mm.avail(), (1 << 20) - (24 << 10));
    /// mm.free_blocks(blocks, FreeFlags::empty())?;
    /// # Ok::<(), pddgpu_buddy::Error>(())
    /// ```
    pub fn block_trim(
        &mut self,
        blocks: &mut Vec<Block>,
        start: Option<u64>,
        new_size: u64,
    ) -> Result<()> {
        let [block] = blocks.as_slice() else {
            return Err(Error::InvalidArgument);
        };
        let idx = self.resolve(block)?;
        let (block_start, block_size) = (block.offset(), block.size());
        if new_size > block_size || new_size == 0 || new_size & (self.chunk_size() - 1) != 0 {
            return Err(Error::InvalidArgument);
        }
        if new_size == block_size {
            return Ok(());
        }
        let new_start = match start {
            None => block_start,
            Some(s) => {
                let block_end = block_start + block_size;
                if s < block_start
                    || s & (self.chunk_size() - 1) != 0
                    || s >= block_end
                    || new_size > block_end - s
                {
                    return Err(Error::InvalidArgument);
                }
                s
            }
        };
        let mut pieces = Vec::new();
        self.session(&mut pieces, |a, out| {
            a.trim_into(idx, new_start, new_size, out)
        })?;
        *blocks = pieces;
        Ok(())
    }

    /// Marks all free memory clear (`true`) or dirty (`false`), after force-merging
    /// every mixed pair of free buddies (upstream `gpu_buddy_reset_clear`). Afterwards
    /// `clear_avail()` is `avail()` or 0. amdgpu calls it with `false` when VRAM
    /// contents can no longer be trusted (GPU reset, resume).
    ///
    /// # Complexity
    /// O(free blocks × depth).
    pub fn reset_clear(&mut self, is_clear: bool) {
        let mut remaining = self.size;
        for root in 0..self.n_roots {
            let (offset, order) = (self.node(root).offset(), self.node(root).order());
            // Never fails without a journal.
            let _ = self.force_merge(offset, offset.saturating_add(remaining), order, false);
            remaining -= self.order_size(order);
        }
        for root in 0..self.n_roots {
            self.for_each_leaf(root, |mm, n| {
                let node = mm.node(n);
                if node.state() == State::Free && node.is_clear() != is_clear {
                    mm.unset_free(n, State::Unused);
                    mm.node_mut(n).set_clear(is_clear);
                    mm.set_free(n);
                }
            });
        }
    }

    /// Visits the leaves below `top` in address order; `f` may change leaf states but
    /// not the tree shape. Uses a fixed stack (depth ≤ 52).
    fn for_each_leaf(&mut self, top: u32, mut f: impl FnMut(&mut Self, u32)) {
        let mut stack = [0u32; 64];
        let mut sp = 1;
        stack[0] = top;
        while sp > 0 {
            sp -= 1;
            let n = stack[sp];
            if self.node(n).state() == State::Split {
                let left = self.node(n).left;
                stack[sp] = left + 1;
                stack[sp + 1] = left;
                sp += 2;
            } else {
                f(self, n);
            }
        }
    }

    /// Calls `f` for every leaf block (free or allocated) in address order.
    ///
    /// # Complexity
    /// O(blocks).
    pub fn for_each_block(&self, mut f: impl FnMut(BlockInfo)) {
        let mut stack = [0u32; 64];
        for root in 0..self.n_roots {
            let mut sp = 1;
            stack[0] = root;
            while sp > 0 {
                sp -= 1;
                let n = stack[sp];
                let node = self.node(n);
                let state = match node.state() {
                    State::Split => {
                        stack[sp] = node.left + 1;
                        stack[sp + 1] = node.left;
                        sp += 2;
                        continue;
                    }
                    State::Free => BlockState::Free,
                    State::Allocated | State::Unused => BlockState::Allocated,
                };
                f(BlockInfo {
                    offset: node.offset(),
                    size: self.order_size(node.order()),
                    order: node.order(),
                    state,
                    clear: node.is_clear(),
                });
            }
        }
    }

    /// Finalises the allocator (upstream `gpu_buddy_fini`).
    ///
    /// # Errors
    /// [`Leak`] listing the blocks still allocated, if any (their tokens were dropped or
    /// are still held).
    pub fn fini(self) -> Result<(), Leak> {
        if self.avail == self.size {
            return Ok(());
        }
        let mut leak = Leak {
            n_blocks: self.n_used.iter().sum(),
            bytes: self.size - self.avail,
            blocks: Vec::new(),
        };
        let mut list = Vec::new();
        let mut complete = list.try_reserve(leak.n_blocks as usize).is_ok();
        self.for_each_block(|b| {
            if b.state == BlockState::Allocated && complete {
                if list.len() < list.capacity() {
                    list.push((b.offset, b.size));
                } else {
                    complete = false;
                }
            }
        });
        if complete {
            leak.blocks = list;
        }
        Err(leak)
    }

    /// Fault injection: the next `n` metadata allocations (one per block split, as
    /// upstream allocates two block structs per split) succeed and every later one
    /// fails with [`Error::OutOfMemory`], until the hook is cleared with `None`. Meant
    /// for tests of this crate and of the layers above (a failed call must leave
    /// everything unchanged). Test-only: compiled in with the `fault-injection` cargo
    /// feature, which production builds leave off.
    #[cfg(feature = "fault-injection")]
    pub fn set_fail_alloc_after(&mut self, n: Option<u64>) {
        self.fail_alloc_after = n;
    }

    /// Managed bytes (the constructor's size rounded down to the chunk size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Size of an order-0 block, in bytes.
    pub fn chunk_size(&self) -> u64 {
        1 << self.chunk_shift
    }

    /// log2(size) - log2(chunk_size): the order of the largest root.
    pub fn max_order(&self) -> u32 {
        self.max_order
    }

    /// Number of roots (set bits of `size / chunk_size`).
    pub fn n_roots(&self) -> usize {
        self.n_roots as usize
    }

    /// `(offset, size)` of every root, ascending (largest first).
    pub fn roots(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..self.n_roots).map(|r| {
            let (s, e) = self.span(r);
            (s, e - s)
        })
    }

    /// Free bytes.
    pub fn avail(&self) -> u64 {
        self.avail
    }

    /// Free bytes in blocks marked clear (a subset of [`avail`](Self::avail)).
    pub fn clear_avail(&self) -> u64 {
        self.clear_avail
    }

    /// Number of free blocks of `order` (clear and dirty); 0 beyond `max_order`.
    pub fn n_free_blocks(&self, order: u32) -> u64 {
        let o = order as usize;
        if o >= ORDERS {
            return 0;
        }
        self.n_free[tree_of(true)][o] + self.n_free[tree_of(false)][o]
    }

    /// Number of allocated blocks of `order`; 0 beyond `max_order`.
    pub fn n_used_blocks(&self, order: u32) -> u64 {
        self.n_used.get(order as usize).copied().unwrap_or(0)
    }
}
