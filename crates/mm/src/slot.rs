//! The arena record: one per node (and one for the head sentinel), linked by index.
//!
//! A slot carries every link the node needs (address list, hole stack, address tree,
//! hole-size tree), so inserting a node allocates nothing once the arena has room — the
//! arena plays the role of upstream's caller-embedded `struct drm_mm_node`.

/// "No slot": the null link.
pub(crate) const NIL: u32 = u32::MAX;

/// The head sentinel always lives in slot 0.
pub(crate) const HEAD: u32 = 0;

/// Lifecycle of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// On the free-slot list (`next` links the list); no other field is meaningful.
    Free,
    /// The head sentinel: `start` = range end, `size` = range start − range end
    /// (wrapping), so `start + size` (wrapping) is the range start and its hole is the
    /// hole at the bottom of the range — upstream's trick to avoid a special case.
    Head,
    /// An allocated node, linked in the address list and the address tree.
    Allocated,
    /// An allocated node currently in a scan roster: unlinked from the address list
    /// (its own `prev`/`next` kept), still in the trees.
    Scanned,
}

/// Parent and child links of one tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links {
    pub(crate) parent: u32,
    pub(crate) left: u32,
    pub(crate) right: u32,
}

impl Links {
    pub(crate) const NONE: Self = Self {
        parent: NIL,
        left: NIL,
        right: NIL,
    };
}

/// One node of the range allocator.
///
/// The layout is fixed (`repr(C)`) and the slot 32-byte aligned, so that its first 32
/// bytes, everything a walk of the address tree reads (links, priority, `max_hole`,
/// `hole_size`), always lie in one cache line: 96-byte slots then start at offset 0
/// or 32 of a line. The address-list and node fields follow, the size index and
/// hole-stack links last.
#[derive(Debug, Clone)]
#[repr(C, align(32))]
pub(crate) struct Slot {
    /// Address tree over the nodes followed by a hole (head included when it has one),
    /// keyed by node end = hole start (upstream `holes_addr`).
    pub(crate) addr: Links,
    /// Treap priority (shared by the address tree and the size treap).
    pub(crate) prio: u16,
    /// Address tree, lazy mode only: `max_hole` of this slot may be stale (too high or
    /// too low) because a hole below it changed. Every ancestor of a dirty slot is
    /// dirty, so a clean slot's whole subtree is clean and its `max_hole` exact.
    pub(crate) dirty: bool,
    pub(crate) state: State,
    /// Address-tree augmentation: the largest `hole_size` in this subtree.
    pub(crate) max_hole: u64,
    /// Size of the hole *following* this node (0: none). Invariant: equals
    /// `slots[next].start - (start + size)`; non-zero iff the slot is in the size tree
    /// and on the hole stack.
    pub(crate) hole_size: u64,
    /// First unit of the node.
    pub(crate) start: u64,
    /// Units in the node (the head uses wrapping arithmetic, see [`State::Head`]).
    pub(crate) size: u64,
    /// Address list (circular through the head); for a free slot, the free-slot list.
    pub(crate) prev: u32,
    pub(crate) next: u32,
    /// Caller's colour tag.
    pub(crate) color: u64,
    /// When the hole was last added (monotonic): the size tree's tie-break, most recent
    /// first among equal sizes, as upstream's "ties go right, take the right-most".
    pub(crate) hole_seq: u64,
    /// Hole stack (most recently added hole first); `NIL`-terminated.
    pub(crate) stack_prev: u32,
    pub(crate) stack_next: u32,
    /// Scan roster (a stack: the node added before this one); meaningful only while
    /// the slot is [`State::Scanned`].
    pub(crate) scan_below: u32,
    /// Hole-size tree over nodes followed by a hole, keyed by (hole_size, newest first).
    pub(crate) by_size: Links,
}

impl Slot {
    /// A fresh, unlinked slot.
    pub(crate) const fn new(start: u64, size: u64, color: u64, state: State) -> Self {
        Self {
            start,
            size,
            color,
            hole_size: 0,
            max_hole: 0,
            hole_seq: 0,
            prev: NIL,
            next: NIL,
            stack_prev: NIL,
            stack_next: NIL,
            scan_below: NIL,
            addr: Links::NONE,
            by_size: Links::NONE,
            state,
            dirty: false,
            prio: 0,
        }
    }

    /// End of the node = start of the hole after it (wrapping only for the head).
    #[inline]
    pub(crate) const fn end(&self) -> u64 {
        self.start.wrapping_add(self.size)
    }

    /// Whether this slot is a node the caller owns (allocated or in a scan).
    #[inline]
    pub(crate) const fn is_node(&self) -> bool {
        matches!(self.state, State::Allocated | State::Scanned)
    }
}

// A slot spans one and a half cache lines; growing it costs every tree walk. The
// address-tree fields fill the first 32 bytes (see `Slot`).
const _: () = assert!(core::mem::size_of::<Slot>() == 96);
const _: () = assert!(core::mem::align_of::<Slot>() == 32);
const _: () = assert!(core::mem::offset_of!(Slot, hole_size) + 8 <= 32);
