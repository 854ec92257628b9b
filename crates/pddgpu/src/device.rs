//! The PDDGPU device: simulated hardware, the TTM device with the VRAM and GTT managers
//! registered, device state, statistics, dumps, recovery and shutdown.
//!
//! # Overview
//!
//! [`Device::new`] performs the seed's init steps (`pddgpu_device_init` →
//! `pddgpu_ttm_init` → `pddgpu_vram_mgr_init` / `pddgpu_gtt_mgr_init`):
//!
//! 1. build the simulated hardware from [`DeviceConfig::hw`];
//! 2. build the VRAM manager core (buddy over all of VRAM, 4 KiB chunks) and the GTT
//!    manager core (range allocator over the GART after the two transfer windows), both
//!    consulting the device state;
//! 3. create the TTM device with the driver callbacks ([`PddgpuTtmFuncs`]) and the page
//!    source ([`HwPageSource`]); it installs the SYSTEM manager;
//! 4. register the VRAM adapter for `TTM_PL_VRAM` (`use_tt = false`, size = VRAM bytes)
//!    and the GTT adapter for `TTM_PL_TT` (`use_tt = true`, size = the GTT limit) —
//!    `ttm_set_driver_manager` + `ttm_resource_manager_set_used(true)`;
//! 5. the device state is READY.
//!
//! The managers are built before the TTM device only because the callbacks hold them;
//! they are registered with TTM in the seed's order.
//!
//! A device is shared as `Arc<Device>` (`Send + Sync`). BOs are created with
//! [`Device::bo_create`] ([`PddgpuBo::create`]).
//!
//! # Robustness (DESIGN §5.4, seed 004)
//!
//! - The device state (READY / SHUTDOWN) is an atomic both managers consult before and
//!   under their locks; BO creation and moves check it first. Refusals are
//!   [`Error::NoDevice`] (`ENODEV`).
//! - [`Device::set_error`] / [`Device::clear_error`] put both managers in and out of
//!   their ERROR state; frees keep working in every state.
//! - [`Device::recover`] after an error or a GPU reset: marks free VRAM dirty when the
//!   reset made VRAM untrusted, verifies (and if damaged rebuilds) both allocators from
//!   their live resources, recomputes statistics, re-binds every live GART range, then
//!   READY.
//! - [`Device::shutdown`] refuses new allocations, evicts every unpinned BO (contents
//!   are purged: the device is going away) and returns the leak report;
//!   [`Device::leak_report`] is empty once every BO handle is gone.
//! - A failed placement is explained ([`NoSpaceReport`]): per domain the free bytes,
//!   the largest free block or hole, usage and limit, and the pinned and busy BOs.
//!
//! # Synchronization
//!
//! The device adds one lock of its own: the BO registry (a leaf, never held while
//! calling TTM or a manager). Everything else is the managers' and TTM's locking.
//!
//! [`PddgpuTtmFuncs`]: crate::ttm_glue::PddgpuTtmFuncs
//! [`HwPageSource`]: crate::ttm_glue::HwPageSource

mod error;
#[cfg(test)]
mod tests;

pub use error::{Error, NoSpaceReport, Result};

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pddgpu_ttm::{AllocationFlags, MemType};

use crate::bo::{placement_from_domain, reserved_domain, BoMeta, BoParam, PddgpuBo};
use crate::gtt_mgr::{GttConfig, GttManager, GttRecoverReport, GttStats};
use crate::hw::{CopyStats, HwConfig, SimHw};
use crate::mgr_common::{
    AllocId, BoKind, DeviceState, Domain, MgrState, NoSpaceCause, NoSpaceInfo, Registry,
    RetryPolicy, PAGE_SIZE,
};
use crate::ttm_glue::{GttTtm, HwPageSource, PddgpuTtmFuncs, VramTtm};
use crate::uapi::{CreateFlags, Domains};
use crate::vram_mgr::{RecoverReport, VramConfig, VramManager, VramStats};

/// Configuration of a [`Device`]. `Default` is DESIGN §5: VRAM 4 GiB (256 MiB
/// visible), GTT 8 GiB, the seed's retry policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Sizes of the simulated hardware (the page size must be 4 KiB).
    pub hw: HwConfig,
    /// GTT usage limit in bytes (TTM `man->size` of TT); `None` = the GART size.
    pub gtt_size: Option<u64>,
    /// Retry of a BO creation that found no VRAM even after eviction (seed: 3 tries,
    /// 10 ms), waiting on the VRAM manager's space-freed signal.
    pub vram_retry: RetryPolicy,
    /// Retry of a BO creation that found no GTT even after eviction (seed: 3 tries, 5 ms),
    /// waiting on the GTT manager's space-freed signal.
    pub gtt_retry: RetryPolicy,
    /// Report a failed placement to user space as `ENOSPC` rather than `ENOMEM`
    /// (`TTM_ALLOCATION_PROPAGATE_ENOSPC`).
    pub propagate_enospc: bool,
    /// Pages TTM's pool keeps cached.
    pub pool_max_cached_pages: u64,
    /// Longest wait for a busy BO before eviction or a move gives up (upstream 15 s).
    pub wait_timeout: Duration,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            hw: HwConfig::default(),
            gtt_size: None,
            vram_retry: RetryPolicy::VRAM_DEFAULT,
            gtt_retry: RetryPolicy::GTT_DEFAULT,
            propagate_enospc: false,
            pool_max_cached_pages: 1 << 16,
            wait_timeout: Duration::from_secs(15),
        }
    }
}

impl DeviceConfig {
    /// A small device whose every outcome is deterministic: 16 MiB of VRAM (the first
    /// 4 MiB CPU-visible), a 16 MiB GART under an 8 MiB GTT limit, 64 MiB of system
    /// memory, and managers that answer no-space at once instead of retrying. Meant
    /// for tests and policy experiments, where a retry would only hide the answer.
    #[must_use]
    pub fn small() -> Self {
        const MIB: u64 = 1 << 20;
        Self {
            hw: HwConfig {
                vram_size: 16 * MIB,
                visible_vram_size: 4 * MIB,
                gtt_size: 16 * MIB,
                sys_mem_size: 64 * MIB,
                page_size: 4096,
            },
            gtt_size: Some(8 * MIB),
            vram_retry: RetryPolicy::NONE,
            gtt_retry: RetryPolicy::NONE,
            ..Self::default()
        }
    }
}

/// The device state (seed `PDDGPU_DEVICE_STATE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DevState {
    /// Serving allocations.
    Ready,
    /// Shut down: allocations refused with `ENODEV`, frees still work.
    Shutdown,
}

/// Device statistics: the seed-004 manager stats plus device counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceStats {
    /// Device state.
    pub state: DevState,
    /// VRAM manager statistics and counters.
    pub vram: VramStats,
    /// GTT manager statistics and counters.
    pub gtt: GttStats,
    /// BOs alive now.
    pub live_bos: u64,
    /// BOs created successfully so far.
    pub bos_created: u64,
    /// BO creations that failed.
    pub bo_create_failures: u64,
    /// Copy-engine counters (jobs, bytes copied and filled, failures).
    pub copy: CopyStats,
}

/// The sysfs-like memory counters (amdgpu `mem_info_*`, bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemInfo {
    /// `mem_info_vram_total`.
    pub vram_total: u64,
    /// `mem_info_vram_used` (reservations included).
    pub vram_used: u64,
    /// `mem_info_vis_vram_total`.
    pub vis_vram_total: u64,
    /// `mem_info_vis_vram_used`.
    pub vis_vram_used: u64,
    /// `mem_info_gtt_total` (the GTT limit, not the GART size).
    pub gtt_total: u64,
    /// `mem_info_gtt_used` (every GTT resource, with or without a GART address).
    pub gtt_used: u64,
}

/// What [`Device::recover`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecoverReport {
    /// A GPU reset had made VRAM untrusted; free VRAM was marked dirty.
    pub vram_lost: bool,
    /// The VRAM manager's report.
    pub vram: RecoverReport,
    /// The GTT manager's report (GART ranges re-bound).
    pub gtt: GttRecoverReport,
}

/// A BO still alive when the leak report was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakedBo {
    /// BO id.
    pub id: u64,
    /// Size in bytes.
    pub size: u64,
    /// Where it is (`None` if purged, or reserved by someone at that moment).
    pub domain: Option<Domains>,
}

/// What is still allocated (upstream `fini` leak reporting): empty once every BO is
/// released.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeakReport {
    /// BOs whose handles are still held, by id.
    pub bos: Vec<LeakedBo>,
    /// BOs released while busy, not reclaimed yet.
    pub zombies: usize,
    /// Live VRAM allocations.
    pub vram_live: usize,
    /// Live GTT allocations.
    pub gtt_live: usize,
    /// System pages still allocated (TT pages of live BOs; TTM's page cache is given
    /// back first).
    pub system_pages: u64,
}

impl LeakReport {
    /// True if nothing is left.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bos.is_empty()
            && self.zombies == 0
            && self.vram_live == 0
            && self.gtt_live == 0
            && self.system_pages == 0
    }
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} BOs, {} zombies, {} VRAM and {} GTT allocations, {} system pages left",
            self.bos.len(),
            self.zombies,
            self.vram_live,
            self.gtt_live,
            self.system_pages
        )?;
        for b in &self.bos {
            write!(f, "; BO {} ({} bytes, {:?})", b.id, b.size, b.domain)?;
        }
        Ok(())
    }
}

/// A PDDGPU device. See the [module documentation](self).
pub struct Device {
    config: DeviceConfig,
    hw: Arc<SimHw>,
    state: Arc<DeviceState>,
    ttm: Arc<pddgpu_ttm::Device>,
    vram: Arc<VramManager>,
    gtt: Arc<GttManager>,
    /// Live BOs, each at the slot its [`PddgpuBo`] remembers (a leaf lock; entries
    /// hold no BO alive).
    bos: Mutex<Registry<BoMeta>>,
    bos_created: AtomicU64,
    bo_create_failures: AtomicU64,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("config", &self.config)
            .field("state", &self.state())
            .field("vram", &self.vram.get_stats())
            .field("gtt", &self.gtt.get_stats())
            .field("live_bos", &self.bos.lock().len())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Builds and initialises a device (see the [module documentation](self) for the
    /// steps).
    ///
    /// # Errors
    /// [`Error::Hw`] if the hardware configuration is invalid;
    /// [`Error::InvalidArgument`] for a page size other than 4 KiB, a zero GTT limit or
    /// sizes TTM cannot address; a manager's error if it cannot be built.
    pub fn new(config: DeviceConfig) -> Result<Arc<Self>> {
        let hw = Arc::new(SimHw::new(config.hw)?);
        if config.hw.page_size != PAGE_SIZE {
            return Err(Error::InvalidArgument("PDDGPU needs 4 KiB pages"));
        }
        for pages in [config.hw.vram_size, config.hw.gtt_size].map(|b| b / PAGE_SIZE) {
            if u32::try_from(pages).is_err() {
                return Err(Error::InvalidArgument("aperture beyond 2^32 pages"));
            }
        }
        let gtt_size = config.gtt_size.unwrap_or(config.hw.gtt_size);
        if gtt_size == 0 {
            return Err(Error::InvalidArgument("GTT limit must not be 0"));
        }
        let state = Arc::new(DeviceState::new());
        let vram = Arc::new(VramManager::new(
            // Under TTM a manager's no-space answer must reach TTM at once, so that it
            // evicts; the seed's bounded retry happens one level up, around the whole
            // validation (`PddgpuBo::create`), only when eviction could not make room.
            VramConfig {
                retry: RetryPolicy::NONE,
                ..VramConfig::new(config.hw.vram_size, config.hw.visible_vram_size)
            },
            Arc::clone(&state),
        )?);
        let gtt = Arc::new(GttManager::new(
            GttConfig {
                size: gtt_size,
                retry: RetryPolicy::NONE,
            },
            Arc::clone(&hw),
            Arc::clone(&state),
        )?);
        let gtt_ttm = Arc::new(GttTtm::new(Arc::clone(&gtt)));
        let funcs = Arc::new(PddgpuTtmFuncs::new(
            Arc::clone(&hw),
            Arc::clone(&vram),
            Arc::clone(&gtt_ttm),
            Arc::clone(&state),
        ));
        let ttm = pddgpu_ttm::Device::new(
            funcs,
            Arc::new(HwPageSource::new(Arc::clone(&hw))),
            pddgpu_ttm::DeviceConfig {
                flags: if config.propagate_enospc {
                    AllocationFlags::PROPAGATE_ENOSPC
                } else {
                    AllocationFlags::empty()
                },
                pool_max_cached_pages: config.pool_max_cached_pages,
                wait_timeout: config.wait_timeout,
            },
        );
        // pddgpu_vram_mgr_init: ttm_set_driver_manager(TTM_PL_VRAM) + set_used(true).
        ttm.set_manager(
            MemType::VRAM,
            Arc::new(VramTtm::new(Arc::clone(&vram), Arc::clone(&hw))),
            false,
            config.hw.vram_size,
        )?;
        // pddgpu_gtt_mgr_init: use_tt, ttm_set_driver_manager(TTM_PL_TT) + set_used(true).
        ttm.set_manager(MemType::TT, gtt_ttm, true, gtt_size)?;
        tracing::info!(
            vram = config.hw.vram_size,
            visible = config.hw.visible_vram_size,
            gtt = gtt_size,
            "PDDGPU device ready"
        );
        Ok(Arc::new(Self {
            config,
            hw,
            state,
            ttm,
            vram,
            gtt,
            bos: Mutex::new(Registry::default()),
            bos_created: AtomicU64::new(0),
            bo_create_failures: AtomicU64::new(0),
        }))
    }

    /// The retry policy for a BO that may live in `domains`, and a way to wait on the
    /// space-freed signal of its first domain (VRAM before GTT); `None` for CPU-only BOs,
    /// whose SYSTEM placement never runs out.
    pub(crate) fn create_retry(&self, domains: Domains) -> Option<(RetryPolicy, SpaceWaiter<'_>)> {
        if domains.contains(Domains::VRAM) {
            Some((self.config.vram_retry, SpaceWaiter::Vram(&self.vram)))
        } else if domains.contains(Domains::GTT) {
            Some((self.config.gtt_retry, SpaceWaiter::Gtt(&self.gtt)))
        } else {
            None
        }
    }

    /// Creates a BO (the seed's `pddgpu_bo_create`); see [`PddgpuBo::create`].
    ///
    /// # Errors
    /// As [`PddgpuBo::create`].
    ///
    /// # Examples
    /// The seed's user-space request: 1 MiB of contiguous VRAM. A fresh buddy allocator
    /// hands out memory from the top; new VRAM reads as zero.
    /// ```
    /// use pddgpu::device::{Device, DeviceConfig};
    /// use pddgpu::hw::{DevAddr, HwConfig};
    /// use pddgpu::uapi::{CreateFlags, Domains};
    /// use pddgpu::BoParam;
    /// const MIB: u64 = 1 << 20;
    /// let dev = Device::new(DeviceConfig {
    ///     hw: HwConfig { vram_size: 64 * MIB, visible_vram_size: 16 * MIB,
    ///                    gtt_size: 64 * MIB, sys_mem_size: 64 * MIB, page_size: 4096 },
    ///     ..DeviceConfig::default()
    /// })?;
    /// let bo = dev.bo_create(&BoParam::new(MIB, Domains::VRAM)
    ///     .with_flags(CreateFlags::VRAM_CONTIGUOUS))?;
    /// assert_eq!(bo.gpu_offset(), Some(DevAddr::Vram(63 * MIB)));
    /// let mut buf = [0xff; 4];
    /// bo.dev_read(0, &mut buf)?;
    /// assert_eq!(buf, [0; 4]);
    /// assert_eq!(dev.sysfs_attr("mem_info_vram_used").as_deref(), Some("1048576\n"));
    /// drop(bo);
    /// assert_eq!(dev.mem_info().vram_used, 0);
    /// # Ok::<(), pddgpu::device::Error>(())
    /// ```
    pub fn bo_create(self: &Arc<Self>, param: &BoParam) -> Result<PddgpuBo> {
        PddgpuBo::create(self, param)
    }

    // --- accessors -----------------------------------------------------------------------

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The simulated hardware (tests read and break it).
    #[must_use]
    pub fn hw(&self) -> &Arc<SimHw> {
        &self.hw
    }

    /// The TTM device.
    #[must_use]
    pub fn ttm(&self) -> &Arc<pddgpu_ttm::Device> {
        &self.ttm
    }

    /// The VRAM manager core.
    #[must_use]
    pub fn vram_mgr(&self) -> &Arc<VramManager> {
        &self.vram
    }

    /// The GTT manager core.
    #[must_use]
    pub fn gtt_mgr(&self) -> &Arc<GttManager> {
        &self.gtt
    }

    /// The device state.
    #[must_use]
    pub fn state(&self) -> DevState {
        if self.state.is_shutdown() {
            DevState::Shutdown
        } else {
            DevState::Ready
        }
    }

    /// The errno user space sees for `err` (upstream turns a final `ENOSPC` of a
    /// placement into `ENOMEM` unless the device propagates `ENOSPC`).
    #[must_use]
    pub fn user_errno(&self, err: &Error) -> i32 {
        match err {
            Error::NoSpace(_) if !self.config.propagate_enospc => Error::OutOfMemory.errno(),
            e => e.errno(),
        }
    }

    pub(crate) fn check_alive(&self) -> Result<()> {
        if self.state.is_shutdown() {
            tracing::debug!("device is shutting down, refusing the request");
            return Err(Error::NoDevice("device is shutting down"));
        }
        Ok(())
    }

    /// First page above the CPU-visible window.
    pub(crate) fn visible_pfn(&self) -> u32 {
        // Device::new checked that VRAM pages fit in u32.
        u32::try_from(self.config.hw.visible_vram_size / PAGE_SIZE).unwrap_or(u32::MAX)
    }

    /// Pages of the GART.
    pub(crate) fn gart_pages(&self) -> u32 {
        u32::try_from(self.config.hw.gtt_size / PAGE_SIZE).unwrap_or(u32::MAX)
    }

    /// [`placement_from_domain`] with this device's window sizes.
    pub(crate) fn placement_from_domain(
        &self,
        domains: Domains,
        flags: CreateFlags,
        kind: BoKind,
        already_placed: bool,
    ) -> pddgpu_ttm::Placement {
        placement_from_domain(
            domains,
            flags,
            kind,
            self.visible_pfn(),
            self.gart_pages(),
            already_placed,
        )
    }

    /// Upstream `amdgpu_bo_validate_size`: GTT first, then VRAM; the size must be
    /// below the domain's size.
    pub(crate) fn validate_size(&self, size: u64, domains: Domains) -> Result<()> {
        if domains.contains(Domains::GTT) {
            let limit = self.gtt.mem_info_gtt_total();
            return if size < limit {
                Ok(())
            } else {
                Err(Error::TooLarge {
                    size,
                    domain: Domain::Gtt,
                    limit,
                })
            };
        }
        if domains.contains(Domains::VRAM) {
            let limit = self.vram.mem_info_vram_total();
            if size >= limit {
                return Err(Error::TooLarge {
                    size,
                    domain: Domain::Vram,
                    limit,
                });
            }
        }
        Ok(())
    }

    // --- BO registry ---------------------------------------------------------------------

    /// Records a new BO; O(1).
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if the registry cannot grow.
    pub(crate) fn register(&self, meta: BoMeta) -> Result<AllocId> {
        let id = {
            let mut bos = self.bos.lock();
            bos.reserve().map_err(|_| Error::OutOfMemory)?;
            bos.insert(meta)
        };
        self.bos_created.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Forgets a BO; O(1).
    pub(crate) fn unregister(&self, reg: AllocId) {
        let gone = self.bos.lock().remove(reg);
        drop(gone);
    }

    /// Records the domain bits a BO is pinned in (0: unpinned).
    pub(crate) fn set_pinned_in(&self, reg: AllocId, domain_bits: u32) {
        if let Some(meta) = self.bos.lock().get_mut(reg) {
            meta.pinned_in = domain_bits;
        }
    }

    pub(crate) fn note_create_failure(&self) {
        self.bo_create_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Number of live BOs.
    #[must_use]
    pub fn live_bos(&self) -> usize {
        self.bos.lock().len()
    }

    pub(crate) fn metas(&self) -> Vec<BoMeta> {
        self.bos.lock().iter().map(|(_, m)| m.clone()).collect()
    }

    /// Pinned and busy BOs in `domain`. Pinned BOs never move, so their domain is
    /// known without locking; a busy BO is try-locked briefly to read its domain
    /// (contended ones count as busy: they cannot be evicted right now either).
    fn pinned_busy(&self, domain: Domains) -> (u64, u64) {
        let (mut pinned, mut busy) = (0, 0);
        for meta in self.metas() {
            if meta.pinned_in == domain.bits() {
                pinned += 1;
                continue;
            }
            let Some(tbo) = meta.tbo.upgrade() else {
                continue;
            };
            if tbo.is_idle() {
                continue;
            }
            let elsewhere = tbo
                .try_reserve()
                .is_some_and(|r| reserved_domain(&r) != Some(domain));
            if !elsewhere {
                busy += 1;
            }
        }
        (pinned, busy)
    }

    /// A manager's figures for a domain no manager explained (it was skipped or
    /// failed otherwise).
    fn snapshot_info(&self, domain: Domain, size: u64) -> NoSpaceInfo {
        let mut info = NoSpaceInfo::bare(domain);
        info.requested = size;
        match domain {
            Domain::Vram => {
                info.free = self.vram.avail();
                info.usage = self.vram.mem_info_vram_used();
                info.limit = self.vram.mem_info_vram_total();
            }
            Domain::Gtt => {
                info.free = self.gtt.free_gart_pages() * PAGE_SIZE;
                info.usage = self.gtt.mem_info_gtt_used();
                info.limit = self.gtt.mem_info_gtt_total();
            }
        }
        info.cause = if info.free < size {
            NoSpaceCause::Exhausted
        } else {
            NoSpaceCause::Fragmented
        };
        info
    }

    /// Turns a failed validation into the device error; a no-space gets its full
    /// explanation (the managers' figures from this thread, pinned and busy BOs per
    /// domain) and is logged.
    pub(crate) fn explain(
        &self,
        e: pddgpu_ttm::Error,
        size: u64,
        domains: Domains,
        flags: CreateFlags,
    ) -> Error {
        let recorded = crate::ttm_glue::take_no_space();
        if e != pddgpu_ttm::Error::NoSpace {
            return e.into();
        }
        let mut domain_info = Vec::new();
        for (d, domain) in [(Domains::VRAM, Domain::Vram), (Domains::GTT, Domain::Gtt)] {
            if !domains.contains(d) {
                continue;
            }
            let mut info = recorded
                .iter()
                .rev()
                .find(|i| i.domain == domain)
                .cloned()
                .unwrap_or_else(|| self.snapshot_info(domain, size));
            let (pinned, busy) = self.pinned_busy(d);
            info.pinned_bos = Some(pinned);
            info.busy_bos = Some(busy);
            domain_info.push(info);
        }
        let report = NoSpaceReport {
            size,
            domains: Some(domains),
            flags: Some(flags),
            domain_info,
        };
        tracing::error!("{report}");
        Error::NoSpace(Box::new(report))
    }

    // --- robustness --------------------------------------------------------------------

    /// Puts both managers into their ERROR state (seed `set_error`): allocations are
    /// refused with `ENODEV`, frees and accounting go on.
    pub fn set_error(&self) {
        self.vram.set_error();
        self.gtt.set_error();
    }

    /// Takes both managers out of ERROR without verification (seed `clear_error`).
    pub fn clear_error(&self) {
        self.vram.clear_error();
        self.gtt.clear_error();
    }

    /// Brings the device back to service after an error or a GPU reset (DESIGN §5.4):
    /// after a reset free VRAM is marked dirty (amdgpu
    /// `amdgpu_vram_mgr_clear_reset_blocks`); each manager verifies its allocator,
    /// rebuilds it from the live resources if damaged, recomputes its statistics; the
    /// GTT manager re-binds every live GART range (`amdgpu_gtt_mgr_recover`); both end
    /// READY and VRAM is trusted again. Live BOs, their placement and statistics are
    /// unchanged.
    ///
    /// # Errors
    /// [`Error::NoDevice`] after shutdown; a manager's error if it cannot be repaired
    /// (it is then left in ERROR).
    pub fn recover(&self) -> Result<DeviceRecoverReport> {
        self.check_alive()?;
        let vram_lost = self.hw.vram_lost();
        if vram_lost {
            self.vram.reset_clear();
        }
        let vram = self.vram.recover()?;
        let gtt = self.gtt.recover()?;
        if vram_lost {
            self.hw.clear_vram_lost();
        }
        tracing::info!("PDDGPU device recovered");
        Ok(DeviceRecoverReport {
            vram_lost,
            vram,
            gtt,
        })
    }

    /// Seed `get_stats` for both managers plus device counters.
    #[must_use]
    pub fn get_stats(&self) -> DeviceStats {
        DeviceStats {
            state: self.state(),
            vram: self.vram.get_stats(),
            gtt: self.gtt.get_stats(),
            live_bos: self.bos.lock().len() as u64,
            bos_created: self.bos_created.load(Ordering::Relaxed),
            bo_create_failures: self.bo_create_failures.load(Ordering::Relaxed),
            copy: self.hw.copy_engine().stats(),
        }
    }

    /// True if both managers are READY and the device is up.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.state() == DevState::Ready
            && self.vram.state() == MgrState::Ready
            && self.gtt.state() == MgrState::Ready
    }

    /// The amdgpu sysfs memory counters.
    #[must_use]
    pub fn mem_info(&self) -> MemInfo {
        MemInfo {
            vram_total: self.vram.mem_info_vram_total(),
            vram_used: self.vram.mem_info_vram_used(),
            vis_vram_total: self.vram.mem_info_vis_vram_total(),
            vis_vram_used: self.vram.mem_info_vis_vram_used(),
            gtt_total: self.gtt.mem_info_gtt_total(),
            gtt_used: self.ttm.usage(MemType::TT),
        }
    }

    /// Reads a sysfs attribute as amdgpu prints it (`"%llu\n"`): `mem_info_vram_total`,
    /// `mem_info_vram_used`, `mem_info_vis_vram_total`, `mem_info_vis_vram_used`,
    /// `mem_info_gtt_total`, `mem_info_gtt_used`; `None` for any other name.
    #[must_use]
    pub fn sysfs_attr(&self, name: &str) -> Option<String> {
        let m = self.mem_info();
        let v = match name {
            "mem_info_vram_total" => m.vram_total,
            "mem_info_vram_used" => m.vram_used,
            "mem_info_vis_vram_total" => m.vis_vram_total,
            "mem_info_vis_vram_used" => m.vis_vram_used,
            "mem_info_gtt_total" => m.gtt_total,
            "mem_info_gtt_used" => m.gtt_used,
            _ => return None,
        };
        Some(format!("{v}\n"))
    }

    /// The debugfs `amdgpu_vram_mm` text: TTM's `use_type`/`use_tt`/`size`/`usage`
    /// lines, then the VRAM manager's dump (vis usage, page size, buddy, reservations).
    #[must_use]
    pub fn vram_mm_debug(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.ttm.manager_debug(MemType::VRAM, &mut s);
        s
    }

    /// The debugfs `amdgpu_gtt_mm` text: TTM's lines, then the range allocator's dump
    /// in GART pages.
    #[must_use]
    pub fn gtt_mm_debug(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.ttm.manager_debug(MemType::TT, &mut s);
        s
    }

    /// Verifies TTM's LRU and usage invariants and both managers' allocators.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn check(&self) -> core::result::Result<(), String> {
        self.ttm.check().map_err(|e| e.to_string())?;
        self.vram.check().map_err(|e| e.to_string())?;
        self.gtt.check().map_err(|e| e.to_string())
    }

    /// Frees the memory of BOs released while busy that are idle now (TTM's delayed
    /// delete); with `no_wait` busy ones are left for later. Returns how many were
    /// reclaimed.
    pub fn delayed_delete(&self, no_wait: bool) -> usize {
        self.ttm.delayed_delete(no_wait)
    }

    /// Shuts the device down (seed `PDDGPU_DEVICE_STATE_SHUTDOWN`, amdgpu `fini`):
    /// new allocations are refused with `ENODEV` from now on, both managers go to
    /// SHUTDOWN (waking threads waiting to retry), every unpinned BO is evicted with
    /// its contents purged, idle zombies are reclaimed, and the leak report is
    /// returned. BO handles stay valid (CPU reads return zeros) and frees keep working;
    /// the report is empty once they are all released ([`Device::leak_report`]).
    pub fn shutdown(&self) -> LeakReport {
        self.state.shutdown();
        self.vram.shutdown();
        self.gtt.shutdown();
        for mem_type in [MemType::VRAM, MemType::TT] {
            if let Err(e) = self.ttm.evict_all(mem_type) {
                tracing::error!("evicting {mem_type:?} at shutdown: {e}");
            }
        }
        self.ttm.delayed_delete(true);
        let report = self.leak_report();
        if report.is_empty() {
            tracing::info!("PDDGPU device shut down");
        } else {
            tracing::warn!("PDDGPU device shut down with live objects: {report}");
        }
        report
    }

    /// What is still allocated: live BO handles, zombies, live manager allocations
    /// and system pages. Gives TTM's page cache back to system memory first, so that
    /// only pages owned by live BOs count.
    #[must_use]
    pub fn leak_report(&self) -> LeakReport {
        self.ttm.pool().shrink();
        let mut bos: Vec<LeakedBo> = self
            .metas()
            .into_iter()
            .map(|m| LeakedBo {
                id: m.id,
                size: m.size,
                domain: m
                    .tbo
                    .upgrade()
                    .and_then(|t| t.try_reserve().and_then(|r| reserved_domain(&r))),
            })
            .collect();
        bos.sort_unstable_by_key(|b| b.id);
        LeakReport {
            bos,
            zombies: self.ttm.n_deleted(),
            vram_live: self.vram.live_count(),
            gtt_live: self.gtt.live_count(),
            system_pages: self.hw.sysmem().allocated_pages(),
        }
    }
}

/// The space-freed signal of one manager, for the BO-level retry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SpaceWaiter<'a> {
    /// The VRAM manager's signal.
    Vram(&'a VramManager),
    /// The GTT manager's signal.
    Gtt(&'a GttManager),
}

impl SpaceWaiter<'_> {
    /// The signal's generation (read before the attempt).
    pub(crate) fn generation(self) -> u64 {
        match self {
            Self::Vram(m) => m.space_generation(),
            Self::Gtt(m) => m.space_generation(),
        }
    }

    /// Waits up to `wait` for space freed after `seen`, counting a retry.
    pub(crate) fn wait(self, seen: u64, wait: Duration) {
        match self {
            Self::Vram(m) => m.wait_for_space(seen, wait),
            Self::Gtt(m) => m.wait_for_space(seen, wait),
        }
    }
}
