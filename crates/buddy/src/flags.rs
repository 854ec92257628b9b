//! Allocation and free flags, with the upstream names and bit values
//! (`GPU_BUDDY_*` in `include/linux/gpu_buddy.h`).

use bitflags::bitflags;

bitflags! {
    /// Flags of [`BuddyAllocator::alloc_blocks`](crate::BuddyAllocator::alloc_blocks)
    /// and [`BuddyRequest`](crate::BuddyRequest). Unknown bits are rejected with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AllocFlags: u64 {
        /// Restrict the allocation to `[start, end)`, lowest address first. Without it
        /// `start`/`end` are still validated and bound force-merging, but otherwise
        /// ignored. In a [`BuddyRequest`](crate::BuddyRequest) use
        /// [`Window::Range`](crate::Window::Range) instead.
        const RANGE = 1 << 0;
        /// Take the highest-addressed free block among all sufficient orders. Ignored by
        /// the range, exact-range and offset-aligned paths and by the fallback to the
        /// other (clear or dirty) free index. In a request use
        /// [`Window::TopDown`](crate::Window::TopDown).
        const TOPDOWN = 1 << 1;
        /// The result is one contiguous range: the size is rounded up to a power of two
        /// (which becomes the minimum block size), then trimmed back. When that fails
        /// and `RANGE` is not set, the try-harder path searches for an exact-size range
        /// spanning several free blocks.
        const CONTIGUOUS = 1 << 2;
        /// Prefer blocks known to be zero; silently falls back to dirty memory.
        const CLEAR = 1 << 3;
        /// Keep the rounded-up allocation whole instead of trimming it back to the
        /// requested size.
        const TRIM_DISABLE = 1 << 5;
    }
}

bitflags! {
    /// Flags of [`BuddyAllocator::free_blocks`](crate::BuddyAllocator::free_blocks).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FreeFlags: u64 {
        /// The freed blocks' contents are known to be zero: mark them clear. Without it
        /// freed blocks are marked dirty, whatever they were when allocated.
        const CLEARED = 1 << 4;
    }
}
