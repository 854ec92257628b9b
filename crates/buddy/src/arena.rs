//! Block metadata: one [`Node`] per block of the tree, kept in an arena (a `Vec`) and
//! linked by `u32` index. The roots occupy indices `0..n_roots`; every split takes a
//! *pair* of consecutive nodes (left child at `i`, right child at `i + 1`), so a node
//! stores one child link and the buddy of a child is found by flipping the low bit of
//! its distance to the left child. Pairs given back by a merge go on an intrusive LIFO
//! list (threaded through the left node's `parent` field), so merging never allocates
//! and a pair freed by a merge can always be taken back by an undo.

/// "No node": the parent of a root, the child link of a leaf, the end of the free list.
pub(crate) const NIL: u32 = u32::MAX;

/// Number of orders an allocator can have (`max_order` is at most 51 = 63 - 12).
pub(crate) const ORDERS: usize = 52;

/// The clear free index (upstream `GPU_BUDDY_CLEAR_TREE`).
pub(crate) const CLEAR: usize = 0;
/// The dirty free index (upstream `GPU_BUDDY_DIRTY_TREE`).
pub(crate) const DIRTY: usize = 1;

/// The free index a block with this clear bit lives in.
#[inline]
pub(crate) fn tree_of(clear: bool) -> usize {
    if clear {
        CLEAR
    } else {
        DIRTY
    }
}

// Header layout, as upstream `gpu_buddy_block.header`:
//   bits 63:12  byte offset (chunk_size >= 4 KiB, so the low 12 bits are free)
//   bits 11:10  state
//   bit  9      clear (contents known zero)
//   bits 5:0    order
const OFFSET_MASK: u64 = !0xfff;
const STATE_SHIFT: u32 = 10;
const STATE_MASK: u64 = 0b11 << STATE_SHIFT;
const CLEAR_BIT: u64 = 1 << 9;
const ORDER_MASK: u64 = 0x3f;

/// The state of a node (header bits 11:10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Not in the tree: a pair on the free list, or a block in the middle of a free or
    /// merge (detached from every index).
    Unused = 0,
    /// Owned by a caller through a `Block` token.
    Allocated = 1,
    /// In the free index.
    Free = 2,
    /// Has two children; never carries the clear bit.
    Split = 3,
}

/// One block of the tree.
///
/// # Invariants
/// - `header` holds offset, state, clear bit and order as documented above; the offset
///   is a multiple of the block size.
/// - `left != NIL` iff the state is `Split`; the children are `left` and `left + 1`.
/// - a node is in the free index (`crate::index`) iff its state is `Free`; `leaf` is
///   the radix leaf of its slot there (allocated when the node was created, so the
///   index never allocates on free).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub(crate) header: u64,
    pub(crate) parent: u32,
    pub(crate) left: u32,
    pub(crate) leaf: u32,
}

impl Node {
    pub(crate) fn new(offset: u64, order: u32, clear: bool, parent: u32, leaf: u32) -> Self {
        Self {
            header: header(offset, order, clear, State::Unused),
            parent,
            left: NIL,
            leaf,
        }
    }

    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.header & OFFSET_MASK
    }

    #[inline]
    pub(crate) fn order(&self) -> u32 {
        (self.header & ORDER_MASK) as u32
    }

    #[inline]
    pub(crate) fn state(&self) -> State {
        match (self.header & STATE_MASK) >> STATE_SHIFT {
            1 => State::Allocated,
            2 => State::Free,
            3 => State::Split,
            _ => State::Unused,
        }
    }

    #[inline]
    pub(crate) fn is_clear(&self) -> bool {
        self.header & CLEAR_BIT != 0
    }

    #[inline]
    pub(crate) fn set_state(&mut self, state: State) {
        self.header = (self.header & !STATE_MASK) | ((state as u64) << STATE_SHIFT);
    }

    #[inline]
    pub(crate) fn set_clear(&mut self, clear: bool) {
        if clear {
            self.header |= CLEAR_BIT;
        } else {
            self.header &= !CLEAR_BIT;
        }
    }
}

// The arena's cost per block, as documented in the crate overview and README.
const _: () = assert!(core::mem::size_of::<Node>() == 24);

#[inline]
fn header(offset: u64, order: u32, clear: bool, state: State) -> u64 {
    (offset & OFFSET_MASK)
        | ((state as u64) << STATE_SHIFT)
        | if clear { CLEAR_BIT } else { 0 }
        | (u64::from(order) & ORDER_MASK)
}
