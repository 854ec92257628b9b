//! Simulated PDDGPU hardware: VRAM aperture, system pages, GART and copy engine.
//!
//! # Overview
//!
//! [`SimHw`] is the device the rest of the driver programs. It bundles:
//! - [`Vram`]: `vram_size` bytes of device memory at device addresses `[0, vram_size)`;
//!   the CPU reaches only the visible window `[0, visible_vram_size)` (the BAR), the device
//!   reaches all of it;
//! - [`SystemMemory`]: host pages handed out by order and named by DMA address, above
//!   [`DMA_BASE`] (what TTM's TT objects and page pool hold);
//! - [`Gart`]: the page table mapping GART pages to system pages, the only way the device
//!   reaches system memory;
//! - the copy engine ([`SimHw::copy`], [`SimHw::fill`], accounting and fault injection in
//!   [`CopyEngine`]): jobs between device addresses ([`DevAddr`]), VRAM directly and GTT
//!   through the GART, as TTM moves use it;
//! - a simulated GPU reset ([`SimHw::gpu_reset`]): the GART table is lost and VRAM contents
//!   become untrusted until the driver has re-validated them.
//!
//! Memory is committed lazily: VRAM and system pages take host memory only when a
//! non-zero byte is written into them, and give it back when zeroed (or, for system
//! pages, freed). A default device (4 GiB VRAM, 8 GiB GTT) costs about 100 KiB of
//! bookkeeping until written. [`SimHw::committed_bytes`] makes this observable.
//!
//! The hardware model validates every argument (it is also the place where driver bugs
//! surface as device faults): each failure is a typed [`HwError`] with an errno, and a
//! failed call changes nothing. It keeps no record of who owns what: the managers above
//! decide which VRAM ranges and GART pages a buffer gets.
//!
//! # Synchronization
//!
//! Every method takes `&self`; `SimHw` is `Send + Sync` and meant to be shared as
//! `Arc<SimHw>`. Page contents live in sharded stores (64 shards per memory, one
//! `RwLock` each, held for at most one page-sized `memcpy`), GART entries are atomics,
//! the system page allocator has one short `Mutex`, counters are atomics. No lock is held
//! across a whole transfer, so jobs on different buffers run in parallel. Multi-page
//! accesses are not atomic with respect to concurrent writers of the same bytes.
//!
//! # Debugging
//!
//! `Debug` on [`SimHw`] prints sizes, committed memory, allocated pages, bound GART
//! entries, copy-engine counters and reset state. [`SimHw::check`] re-derives every
//! internal invariant and reports the first violation.

mod config;
mod copy;
mod error;
mod gart;
mod store;
mod sysmem;
mod vram;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{HwConfig, MAX_APERTURE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE};
pub use copy::{CopyEngine, CopyStats, DevAddr};
pub use error::{HwError, Result};
pub use gart::{Gart, ENTRIES_PER_CHUNK};
pub use sysmem::{DmaAddr, SystemMemory, DMA_BASE, DMA_SPAN, MAX_PAGE_ORDER};
pub use vram::Vram;

/// A simulated PDDGPU.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use pddgpu::hw::{DevAddr, HwConfig, SimHw};
/// let hw = Arc::new(SimHw::new(HwConfig::default())?);
/// assert_eq!(hw.committed_bytes(), 0);             // 4 GiB of VRAM, nothing committed
/// hw.vram().dev_write(3 << 30, &[1, 2, 3])?;        // beyond the BAR: device access only
/// assert_eq!(hw.committed_bytes(), 4096);           // one page slot
/// hw.fill(DevAddr::Vram(3 << 30), 4096, 0)?;        // a clear job releases it
/// assert_eq!(hw.committed_bytes(), 0);
/// # Ok::<(), pddgpu::hw::HwError>(())
/// ```
pub struct SimHw {
    config: HwConfig,
    page_shift: u32,
    vram: Vram,
    sysmem: SystemMemory,
    gart: Gart,
    copy: CopyEngine,
    /// Number of GPU resets so far (amdgpu's `vram_lost_counter` counts the same events).
    reset_count: AtomicU64,
    /// The reset count as of which the driver last declared VRAM contents trusted; VRAM is
    /// lost while this is behind `reset_count`. Only grows (`fetch_max`), so a reset that
    /// lands while the driver re-validates is never hidden by its late "trusted".
    vram_trusted_at: AtomicU64,
}

impl SimHw {
    /// Builds a device from `config`; nothing is committed.
    ///
    /// # Errors
    /// [`HwError::InvalidArgument`] if [`HwConfig::validate`] rejects the configuration.
    pub fn new(config: HwConfig) -> Result<Self> {
        config.validate()?;
        let page = config.page_size;
        Ok(Self {
            config,
            page_shift: page.trailing_zeros(),
            vram: Vram::new(config.vram_size, config.visible_vram_size, page),
            sysmem: SystemMemory::new(config.sys_mem_size, page),
            gart: Gart::new(config.gart_entries(), page),
            copy: CopyEngine::default(),
            reset_count: AtomicU64::new(0),
            vram_trusted_at: AtomicU64::new(0),
        })
    }

    /// The configuration the device was built from.
    #[must_use]
    pub fn config(&self) -> &HwConfig {
        &self.config
    }

    /// The VRAM aperture.
    #[must_use]
    pub fn vram(&self) -> &Vram {
        &self.vram
    }

    /// System memory (DMA-addressed host pages).
    #[must_use]
    pub fn sysmem(&self) -> &SystemMemory {
        &self.sysmem
    }

    /// The GART page table.
    #[must_use]
    pub fn gart(&self) -> &Gart {
        &self.gart
    }

    /// The copy engine's counters and fault injection.
    #[must_use]
    pub fn copy_engine(&self) -> &CopyEngine {
        &self.copy
    }

    /// Host bytes committed to page contents, VRAM plus system memory.
    #[must_use]
    pub fn committed_bytes(&self) -> u64 {
        self.vram.committed_bytes() + self.sysmem.committed_bytes()
    }

    /// Simulates a GPU reset: every GART entry is invalidated, VRAM contents are marked
    /// lost ([`vram_lost`](Self::vram_lost)) and the reset counter is bumped. VRAM bytes and
    /// system memory are kept; jobs already resolved finish with the pages they resolved.
    ///
    /// The driver recovers in this order:
    /// 1. read [`reset_count`](Self::reset_count);
    /// 2. re-bind every live GART range (amdgpu's `amdgpu_gtt_mgr_recover`);
    /// 3. re-validate or restore VRAM contents;
    /// 4. call [`clear_vram_lost_as_of`](Self::clear_vram_lost_as_of) with the count from
    ///    step 1, so that a reset during steps 2–3 leaves VRAM marked lost.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::{HwConfig, SimHw};
    /// let hw = SimHw::new(HwConfig::default())?;
    /// hw.gpu_reset();
    /// let seen = hw.reset_count();
    /// hw.gpu_reset(); // a second reset while the driver re-validates
    /// hw.clear_vram_lost_as_of(seen);
    /// assert!(hw.vram_lost());
    /// hw.clear_vram_lost_as_of(hw.reset_count());
    /// assert!(!hw.vram_lost());
    /// # Ok::<(), pddgpu::hw::HwError>(())
    /// ```
    pub fn gpu_reset(&self) {
        self.gart.reset();
        self.reset_count.fetch_add(1, Ordering::AcqRel);
    }

    /// Number of GPU resets so far.
    #[must_use]
    pub fn reset_count(&self) -> u64 {
        self.reset_count.load(Ordering::Acquire)
    }

    /// True if VRAM contents are untrusted: a reset happened after the reset count the
    /// driver last declared trusted.
    #[must_use]
    pub fn vram_lost(&self) -> bool {
        self.vram_trusted_at.load(Ordering::Acquire) < self.reset_count()
    }

    /// Declares VRAM contents trusted as of the current reset count (after the driver
    /// re-validated them with no reset possible in between, e.g. under its own reset lock).
    pub fn clear_vram_lost(&self) {
        self.clear_vram_lost_as_of(self.reset_count());
    }

    /// Declares VRAM contents trusted as of reset count `reset_count` (read before the
    /// re-validation started). Resets counted after it keep VRAM lost; an older count than
    /// one already declared changes nothing, and a count from the future is clamped to the
    /// present.
    pub fn clear_vram_lost_as_of(&self, reset_count: u64) {
        let count = reset_count.min(self.reset_count());
        self.vram_trusted_at.fetch_max(count, Ordering::AcqRel);
    }

    /// Re-derives every internal invariant: page stores (counters, no all-zero committed
    /// page), the system page allocator (blocks disjoint and aligned, free lists exact,
    /// accounting equal to live blocks), the GART entry count. Call when no operation is in
    /// flight.
    ///
    /// # Errors
    /// A description of the first violation.
    ///
    /// # Complexity
    /// O(committed pages × page size + allocated pages + allocated GART entries).
    pub fn check(&self) -> core::result::Result<(), String> {
        self.vram.check()?;
        self.sysmem.check()?;
        self.gart.check()
    }
}

impl core::fmt::Debug for SimHw {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimHw")
            .field("vram", &self.vram)
            .field("sysmem", &self.sysmem)
            .field("gart", &self.gart)
            .field("copy", &self.copy.stats())
            .field("reset_count", &self.reset_count())
            .field("vram_lost", &self.vram_lost())
            .finish()
    }
}
