//! Errors of the simulated hardware.
//!
//! One enum, [`HwError`], for every layer of the hardware model. Each variant maps to one
//! Linux errno through [`HwError::errno`]; the errno values appear only here (the ioctl
//! boundary negates them).

/// `EIO`: the copy engine reported a failed job.
const EIO: i32 = 5;
/// `ENOMEM`: no system pages left.
const ENOMEM: i32 = 12;
/// `EFAULT`: an access the hardware cannot complete (outside an aperture, unbound GART page).
const EFAULT: i32 = 14;
/// `EINVAL`: a malformed request (bad configuration, foreign address, wrong order).
const EINVAL: i32 = 22;

/// Result type of the hardware model.
pub type Result<T, E = HwError> = core::result::Result<T, E>;

/// Everything the simulated hardware can refuse.
///
/// A call that returns an error has changed nothing, except where a variant says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HwError {
    /// A malformed argument or configuration (`EINVAL`); the text names the rule broken.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),

    /// A device access to `[offset, offset + len)` that does not lie inside VRAM (`EFAULT`).
    #[error("VRAM access {offset:#x}+{len:#x} outside VRAM of {vram_size:#x} bytes")]
    VramOutOfRange {
        /// First byte of the access.
        offset: u64,
        /// Length of the access in bytes.
        len: u64,
        /// Size of VRAM in bytes.
        vram_size: u64,
    },

    /// A CPU access to `[offset, offset + len)` that does not lie inside the CPU-visible
    /// window (a BAR access fault, `EFAULT`).
    #[error("CPU access {offset:#x}+{len:#x} outside the visible VRAM window of {visible_size:#x} bytes")]
    NotCpuVisible {
        /// First byte of the access.
        offset: u64,
        /// Length of the access in bytes.
        len: u64,
        /// Size of the CPU-visible window in bytes.
        visible_size: u64,
    },

    /// GART entries `[first_page, first_page + count)` do not exist (`EINVAL`).
    #[error("GART pages {first_page:#x}+{count:#x} outside the table of {num_entries:#x} entries")]
    GartOutOfRange {
        /// First GART page index of the request.
        first_page: u64,
        /// Number of entries requested.
        count: u64,
        /// Number of entries in the GART table.
        num_entries: u64,
    },

    /// The device touched a GART page with no valid entry (a GPU page fault, `EFAULT`).
    #[error("GART page fault: page {gart_page:#x} is not bound")]
    GartFault {
        /// The unbound GART page index.
        gart_page: u64,
    },

    /// An access to a system page that is not allocated, e.g. freed while still bound in
    /// the GART (`EFAULT`).
    #[error("DMA fault: system page {dma_addr:#x} is not allocated")]
    DmaFault {
        /// DMA address of the faulting page.
        dma_addr: u64,
    },

    /// An address that does not name a block this system memory handed out: outside the
    /// DMA window, not page aligned, or inside a block rather than at its start (`EINVAL`).
    #[error("foreign DMA address {dma_addr:#x}")]
    ForeignAddress {
        /// The address given.
        dma_addr: u64,
    },

    /// `free_pages` on a block that is already free (`EINVAL`).
    #[error("double free of system pages at {dma_addr:#x} (order {order})")]
    DoubleFree {
        /// Start of the block.
        dma_addr: u64,
        /// Order of the block.
        order: u32,
    },

    /// `free_pages` with an order other than the one allocated (`EINVAL`).
    #[error("system pages at {dma_addr:#x} have order {allocated}, freed as order {given}")]
    OrderMismatch {
        /// Start of the block.
        dma_addr: u64,
        /// Order the block was allocated with.
        allocated: u32,
        /// Order passed to `free_pages`.
        given: u32,
    },

    /// System memory cannot supply `2^order` more pages (`ENOMEM`).
    #[error("out of system memory for an order-{order} allocation")]
    OutOfMemory {
        /// Order of the refused allocation.
        order: u32,
    },

    /// The copy engine failed the job because a failure was injected (`EIO`); nothing was
    /// transferred.
    #[error("copy engine job failed (injected fault)")]
    CopyFailed,
}

impl HwError {
    /// The positive Linux errno for this error (`EINVAL`, `EFAULT`, `ENOMEM`, `EIO`).
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::HwError;
    /// assert_eq!(HwError::GartFault { gart_page: 7 }.errno(), 14); // EFAULT
    /// assert_eq!(HwError::OutOfMemory { order: 0 }.errno(), 12);  // ENOMEM
    /// ```
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::InvalidArgument(_)
            | Self::GartOutOfRange { .. }
            | Self::ForeignAddress { .. }
            | Self::DoubleFree { .. }
            | Self::OrderMismatch { .. } => EINVAL,
            Self::VramOutOfRange { .. }
            | Self::NotCpuVisible { .. }
            | Self::GartFault { .. }
            | Self::DmaFault { .. } => EFAULT,
            Self::OutOfMemory { .. } => ENOMEM,
            Self::CopyFailed => EIO,
        }
    }
}
