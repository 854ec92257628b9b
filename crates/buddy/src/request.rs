//! The typed request: [`BuddyRequest`] with a [`Window`] instead of `start`/`end` values
//! that may be silently ignored, and [`Pow2`] for the minimum block size.

use core::fmt;
use core::ops::Range;

use crate::{AllocFlags, Error, Result};

/// A power of two, checked at construction (the kernel's `Alignment`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pow2(u64);

impl Pow2 {
    /// `value` if it is a power of two.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `value` is 0 or not a power of two.
    ///
    /// # Examples
    /// ```
    /// use pddgpu_buddy::{Error, Pow2};
    /// assert_eq!(Pow2::new(4096)?.get(), 4096);
    /// assert_eq!(Pow2::new(12288), Err(Error::InvalidArgument));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(value: u64) -> Result<Self> {
        if value.is_power_of_two() {
            Ok(Self(value))
        } else {
            Err(Error::InvalidArgument)
        }
    }

    /// The value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Pow2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pow2({:#x})", self.0)
    }
}

/// Where a request may be placed. The placement modes are mutually exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Window {
    /// Anywhere: smallest sufficient order, highest offset within it (upstream default).
    /// Force-merging may use the whole allocator.
    Any,
    /// Only inside `[start, end)`, lowest address first (upstream `RANGE`). When
    /// `end - start` equals the request size the span is allocated exactly
    /// (upstream's exact-range shortcut, used for reservations).
    Range(Range<u64>),
    /// Highest address first across all sufficient orders (upstream `TOPDOWN`).
    TopDown,
}

/// One allocation request (the typed form of
/// [`BuddyAllocator::alloc_blocks`](crate::BuddyAllocator::alloc_blocks)).
///
/// `flags` carries the modifiers `CONTIGUOUS`, `CLEAR` and `TRIM_DISABLE`; the placement
/// mode is `window`, so `RANGE`/`TOPDOWN` in `flags` are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuddyRequest {
    /// Placement mode.
    pub window: Window,
    /// Bytes to allocate (a multiple of the chunk size).
    pub size: u64,
    /// Smallest block handed out, and the alignment of every block (except trim
    /// remainders). A power-of-two size below it is placed at a `min_block_size`-aligned
    /// offset without rounding (offset-aligned allocation).
    pub min_block_size: Pow2,
    /// Modifiers.
    pub flags: AllocFlags,
}

impl BuddyRequest {
    /// A request for `size` bytes anywhere, in blocks of at least `min_block_size`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `min_block_size` is not a power of two.
    pub fn new(size: u64, min_block_size: u64) -> Result<Self> {
        Ok(Self {
            window: Window::Any,
            size,
            min_block_size: Pow2::new(min_block_size)?,
            flags: AllocFlags::empty(),
        })
    }

    /// The same request placed in `window`.
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// The same request with `flags` added.
    pub fn flags(mut self, flags: AllocFlags) -> Self {
        self.flags |= flags;
        self
    }
}
