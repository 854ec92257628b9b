//! Errors of the range allocator, and the reports of `check()` and `fini()`.
//!
//! One enum for the caller-visible failures ([`Error`]); errno values appear only in
//! [`Error::errno`], for the C/ioctl boundary.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::NodeInfo;

/// What a range-allocator call can fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// A caller value is malformed: an empty or overflowing managed range,
    /// `range_start > range_end`, a node of another allocator, a scan misuse
    /// (removing blocks out of order, a node that is not in the roster). `EINVAL`.
    InvalidArgument,
    /// No hole satisfies the request (size 0, empty range, nothing fits after colour,
    /// range and alignment; a reserve that is not inside one hole). `ENOSPC`, the only
    /// error upstream `drm_mm` ever returns.
    NoSpace,
    /// The node is already part of the open scan roster. `EBUSY`.
    Busy,
    /// Node metadata could not be allocated (the arena could not grow, or hit the limit
    /// set with `Mm::set_max_nodes` under the `fault-injection` feature); nothing was
    /// changed.
    /// `ENOMEM`.
    OutOfMemory,
}

impl Error {
    /// The Linux errno of this error, as a positive number like the other pddgpu
    /// crates (`EINVAL` = 22, `ENOSPC` = 28, `EBUSY` = 16, `ENOMEM` = 12); kernel-style
    /// callers negate it.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(pddgpu_mm::Error::NoSpace.errno(), 28);
    /// ```
    #[must_use]
    pub const fn errno(self) -> i32 {
        match self {
            Self::InvalidArgument => 22,
            Self::NoSpace => 28,
            Self::Busy => 16,
            Self::OutOfMemory => 12,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidArgument => "invalid argument",
            Self::NoSpace => "no space left in the range",
            Self::Busy => "node is already in the scan roster",
            Self::OutOfMemory => "out of memory for node metadata",
        })
    }
}

impl core::error::Error for Error {}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A broken invariant found by [`Mm::check`](crate::Mm::check): which one, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// Human-readable description of the violation.
    pub what: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "drm_mm invariant violated: {}", self.what)
    }
}

impl core::error::Error for CheckError {}

/// The nodes still allocated when [`Mm::fini`](crate::Mm::fini) was called.
///
/// `Display` prints the upstream takedown report (`show_leaks`), one line per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The leaked nodes, in address order.
    pub nodes: Vec<NodeInfo>,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Memory manager not clean during takedown.")?;
        for n in &self.nodes {
            writeln!(f, "node [{:08x} + {:08x}]: unknown owner", n.start, n.size)?;
        }
        Ok(())
    }
}

impl core::error::Error for Leak {}
