//! What the allocator hands out: [`Block`] tokens, and [`BlockInfo`] views of the block
//! tree for dumps and tests.

use core::fmt;

/// An allocated block: an owned token for `[offset, offset + size)`.
///
/// A `Block` is not `Clone` and can only be given back by value
/// ([`BuddyAllocator::free_block`](crate::BuddyAllocator::free_block),
/// [`free_blocks`](crate::BuddyAllocator::free_blocks),
/// [`block_trim`](crate::BuddyAllocator::block_trim)), so safe code cannot free a block
/// twice. It remembers which allocator made it: giving it to another allocator is
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument). Dropping it leaks its
/// memory until the allocator is finalised ([`fini`](crate::BuddyAllocator::fini)
/// reports it).
#[must_use = "a block must be given back with free_block/free_blocks, or its memory leaks"]
pub struct Block {
    pub(crate) offset: u64,
    pub(crate) owner: usize,
    pub(crate) idx: u32,
    pub(crate) order: u8,
    pub(crate) chunk_shift: u8,
    pub(crate) clear: bool,
}

impl Block {
    /// Byte offset of the block (upstream `gpu_buddy_block_offset`).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size in bytes: `chunk_size << order` (upstream `gpu_buddy_block_size`).
    pub fn size(&self) -> u64 {
        1u64 << (u32::from(self.order) + u32::from(self.chunk_shift))
    }

    /// End of the block, exclusive: `offset + size`.
    pub fn end(&self) -> u64 {
        self.offset + self.size()
    }

    /// log2(size / chunk_size) (upstream `gpu_buddy_block_order`).
    pub fn order(&self) -> u32 {
        u32::from(self.order)
    }

    /// Whether the contents were known to be zero when the block was allocated, so the
    /// caller may skip clearing it (upstream `gpu_buddy_block_is_clear`).
    pub fn is_clear(&self) -> bool {
        self.clear
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Block({:#x}..{:#x}, order {}{})",
            self.offset,
            self.end(),
            self.order,
            if self.clear { ", clear" } else { "" }
        )
    }
}

/// Whether a leaf of the block tree is free or allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockState {
    /// In the free index.
    Free,
    /// Owned by a caller through a [`Block`].
    Allocated,
}

/// A leaf of the block tree, as visited by
/// [`BuddyAllocator::for_each_block`](crate::BuddyAllocator::for_each_block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockInfo {
    /// Byte offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// log2(size / chunk_size).
    pub order: u32,
    /// Free or allocated.
    pub state: BlockState,
    /// The clear bit (contents known zero).
    pub clear: bool,
}
