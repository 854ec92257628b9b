//! Sizes of the simulated device and their validation.

use super::error::{HwError, Result};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Smallest supported page size (the CPU and GPU page of amdgpu).
pub const MIN_PAGE_SIZE: u64 = 4 * KIB;
/// Largest supported page size.
pub const MAX_PAGE_SIZE: u64 = 64 * KIB;
/// Largest VRAM, GTT aperture and system memory a device may be configured with.
///
/// Keeps every device address and every DMA address inside 44 bits, so DMA addresses
/// (which start at [`DMA_BASE`](super::DMA_BASE)) can never be mistaken for VRAM offsets.
pub const MAX_APERTURE_SIZE: u64 = TIB;

/// The configuration of a simulated PDDGPU.
///
/// All sizes are in bytes and must be non-zero multiples of `page_size`; see
/// [`HwConfig::validate`] for the full rule set. Build with struct update syntax:
///
/// ```
/// use pddgpu::hw::HwConfig;
/// let cfg = HwConfig { vram_size: 64 << 20, visible_vram_size: 16 << 20, ..HwConfig::default() };
/// assert!(cfg.validate().is_ok());
/// assert_eq!(cfg.gtt_size, 8 << 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwConfig {
    /// VRAM size (default 4 GiB). Device addresses `[0, vram_size)` are VRAM.
    pub vram_size: u64,
    /// Size of the CPU-visible window at the bottom of VRAM, the BAR (default 256 MiB).
    pub visible_vram_size: u64,
    /// Size of the GART aperture (default 8 GiB): the table has `gtt_size / page_size` entries.
    pub gtt_size: u64,
    /// Amount of host memory the simulated system may hand out as DMA pages (default 16 GiB).
    pub sys_mem_size: u64,
    /// Page size of VRAM slots, system pages and GART entries (default 4096; a power of
    /// two in `[4 KiB, 64 KiB]`).
    pub page_size: u64,
}

impl Default for HwConfig {
    /// DESIGN §5.1 defaults: VRAM 4 GiB, visible 256 MiB, GTT 8 GiB, page 4 KiB, and
    /// 16 GiB of system memory.
    fn default() -> Self {
        Self {
            vram_size: 4 * GIB,
            visible_vram_size: 256 * MIB,
            gtt_size: 8 * GIB,
            sys_mem_size: 16 * GIB,
            page_size: MIN_PAGE_SIZE,
        }
    }
}

impl HwConfig {
    /// Checks the configuration.
    ///
    /// Rules, checked in this order:
    /// 1. `page_size` is a power of two in `[MIN_PAGE_SIZE, MAX_PAGE_SIZE]`;
    /// 2. `vram_size`, `visible_vram_size`, `gtt_size`, `sys_mem_size` are each non-zero,
    ///    a multiple of `page_size` and at most [`MAX_APERTURE_SIZE`];
    /// 3. `visible_vram_size <= vram_size`.
    ///
    /// # Errors
    /// [`HwError::InvalidArgument`] naming the first rule broken.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::{HwConfig, HwError};
    /// let bad = HwConfig { visible_vram_size: 8 << 30, ..HwConfig::default() };
    /// assert_eq!(bad.validate(), Err(HwError::InvalidArgument("visible_vram_size exceeds vram_size")));
    /// ```
    pub fn validate(&self) -> Result<()> {
        let page = self.page_size;
        if !page.is_power_of_two() || !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page) {
            return Err(HwError::InvalidArgument(
                "page_size must be a power of two in [4 KiB, 64 KiB]",
            ));
        }
        check_size(
            self.vram_size,
            page,
            [
                "vram_size must be non-zero",
                "vram_size must be a multiple of page_size",
                "vram_size exceeds 1 TiB",
            ],
        )?;
        check_size(
            self.visible_vram_size,
            page,
            [
                "visible_vram_size must be non-zero",
                "visible_vram_size must be a multiple of page_size",
                "visible_vram_size exceeds 1 TiB",
            ],
        )?;
        check_size(
            self.gtt_size,
            page,
            [
                "gtt_size must be non-zero",
                "gtt_size must be a multiple of page_size",
                "gtt_size exceeds 1 TiB",
            ],
        )?;
        check_size(
            self.sys_mem_size,
            page,
            [
                "sys_mem_size must be non-zero",
                "sys_mem_size must be a multiple of page_size",
                "sys_mem_size exceeds 1 TiB",
            ],
        )?;
        if self.visible_vram_size > self.vram_size {
            return Err(HwError::InvalidArgument(
                "visible_vram_size exceeds vram_size",
            ));
        }
        Ok(())
    }

    /// Number of GART entries, `gtt_size / page_size`.
    #[must_use]
    pub fn gart_entries(&self) -> u64 {
        self.gtt_size / self.page_size.max(1)
    }
}

/// One size rule; `why` holds the messages for "zero", "unaligned" and "too large"
/// (`'static` so errors stay cheap to compare in tests).
fn check_size(size: u64, page: u64, why: [&'static str; 3]) -> Result<()> {
    if size == 0 {
        Err(HwError::InvalidArgument(why[0]))
    } else if size % page != 0 {
        Err(HwError::InvalidArgument(why[1]))
    } else if size > MAX_APERTURE_SIZE {
        Err(HwError::InvalidArgument(why[2]))
    } else {
        Ok(())
    }
}
