//! Errors of the buddy allocator, and the two reports it produces: a broken invariant
//! found by [`BuddyAllocator::check`](crate::BuddyAllocator::check) and the blocks still
//! allocated at [`BuddyAllocator::fini`](crate::BuddyAllocator::fini).

use alloc::vec::Vec;
use core::fmt;

/// `EINVAL`, as Linux defines it.
pub const EINVAL: i32 = 22;
/// `ENOSPC`, as Linux defines it.
pub const ENOSPC: i32 = 28;
/// `ENOMEM`, as Linux defines it.
pub const ENOMEM: i32 = 12;

/// Why an allocator call failed. A failed call leaves the allocator exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Bad argument (`-EINVAL`): misaligned or out-of-range values, a request too large
    /// for the allocator, a block that does not belong to this allocator.
    InvalidArgument,
    /// No free space satisfies the request (`-ENOSPC`).
    NoSpace,
    /// Block metadata could not be allocated (`-ENOMEM`).
    OutOfMemory,
}

impl Error {
    /// The Linux errno for this error, as a positive number (`EINVAL`, `ENOSPC`, `ENOMEM`).
    pub fn errno(self) -> i32 {
        match self {
            Error::InvalidArgument => EINVAL,
            Error::NoSpace => ENOSPC,
            Error::OutOfMemory => ENOMEM,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::InvalidArgument => "invalid argument",
            Error::NoSpace => "no space left in the buddy allocator",
            Error::OutOfMemory => "out of memory for block metadata",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A violated invariant found by [`BuddyAllocator::check`](crate::BuddyAllocator::check):
/// what is wrong and where (the block's offset and order; 0 when not about one block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// Which invariant is violated.
    pub what: &'static str,
    /// Offset of the block concerned, in bytes.
    pub offset: u64,
    /// Order of the block concerned.
    pub order: u32,
}

impl CheckError {
    pub(crate) fn new(what: &'static str, offset: u64, order: u32) -> Self {
        Self {
            what,
            offset,
            order,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buddy invariant violated: {} (block {:#x}, order {})",
            self.what, self.offset, self.order
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CheckError {}

/// Blocks still allocated when the allocator was finalised (upstream `gpu_buddy_fini`
/// warns about them). Their memory is not reclaimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Number of allocated blocks.
    pub n_blocks: u64,
    /// Bytes in allocated blocks (`size - avail`).
    pub bytes: u64,
    /// `(offset, size)` of every allocated block, in address order. Empty if the list
    /// itself could not be allocated; the two counts above are always exact.
    pub blocks: Vec<(u64, u64)>,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buddy allocator finalised with {} blocks ({} bytes) still allocated",
            self.n_blocks, self.bytes
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Leak {}
