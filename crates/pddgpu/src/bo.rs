//! PDDGPU buffer objects (upstream `amdgpu_object.c`): creation, placement from GEM
//! domains, validation into a domain, pinning, CPU and device access, destruction.
//!
//! # Overview
//!
//! [`PddgpuBo::create`] is the seed's `pddgpu_bo_create`: it checks a [`BoParam`],
//! turns its domains into a TTM placement ([`placement_from_domain`], upstream
//! `amdgpu_bo_placement_from_domain`) and lets TTM create and validate the BO:
//!
//! ```text
//! PddgpuBo::create → pddgpu_ttm::Device::create_bo + ReservedBo::validate
//!   → ResourceManager::alloc (VramTtm / GttTtm) → VramManager::alloc / GttManager::alloc
//!   → BuddyAllocator::alloc_blocks / Mm::insert_in_range
//!   → DeviceFuncs::move_bo (zeroes new VRAM unless the buddy says it is clear)
//! ```
//!
//! A [`PddgpuBo`] owns its TTM [`BufferObject`]; dropping it destroys the
//! BO: an idle BO frees its memory at once, a busy one becomes a zombie that TTM frees
//! once idle ([`Device::delayed_delete`](crate::device::Device::delayed_delete)).
//!
//! Contents are never lost by a move (see [`crate::ttm_glue`]) and a new BO never shows
//! a previous owner's bytes: new VRAM is zeroed unless every buddy block is known
//! clear, TT pages come zeroed from the pool, and `VRAM_WIPE_ON_RELEASE` zeroes the
//! VRAM when it is freed and returns it to the buddy as cleared.
//!
//! # Placement (upstream `amdgpu_bo_placement_from_domain`)
//!
//! Places in the order VRAM, GTT, CPU for the domains asked for:
//! - VRAM: `lpfn` = the visible window with `CPU_ACCESS_REQUIRED`; `TOPDOWN` from the
//!   create flag; `CONTIGUOUS` only for kernel BOs with `VRAM_CONTIGUOUS` (for user BOs
//!   the flag is a hint the VRAM manager retries without).
//! - GTT: `lpfn` 0 (no GART address) for user BOs, the whole GART for kernel BOs (which
//!   upstream binds at creation); `FALLBACK` when the BO is already placed and both the
//!   domains asked for and its preferred domains include VRAM ("only use GTT as a
//!   fallback and still try to fill up VRAM first").
//! - CPU: SYSTEM.
//!
//! # Locking
//! Every method reserves the TTM BO (blocking) for its duration; do not call one while
//! holding another BO's reservation.

#[cfg(test)]
mod tests;

use core::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use pddgpu_ttm::{
    BoParams, BoType, BufferObject, IdleFence, MemType, OperationCtx, Place, PlaceFlags, Placement,
    ReservedBo, Resource, WeakBo,
};

use crate::device::{Device, Error, Result};
use crate::hw::{DevAddr, DmaAddr};
use crate::mgr_common::{AllocId, BoKind, PAGE_SIZE};
use crate::ttm_glue::{GttBacking, VramBacking};
use crate::uapi::{CreateFlags, Domains};

/// Parameters of a new BO (upstream `struct amdgpu_bo_param`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoParam {
    /// Size in bytes; rounded up to whole pages. Not 0.
    pub size: u64,
    /// Alignment in bytes: 0 (one page) or a power of two.
    pub byte_align: u64,
    /// Where the BO may live.
    pub domain: Domains,
    /// Create flags.
    pub flags: CreateFlags,
    /// Kernel or user BO.
    pub bo_type: BoKind,
    /// LRU priority 0..=3; 0 is evicted first.
    pub priority: u8,
}

impl BoParam {
    /// A user BO of `size` bytes in `domain`, page aligned, no flags, priority 0.
    #[must_use]
    pub const fn new(size: u64, domain: Domains) -> Self {
        Self {
            size,
            byte_align: 0,
            domain,
            flags: CreateFlags::empty(),
            bo_type: BoKind::User,
            priority: 0,
        }
    }

    /// This parameter set with `flags`.
    #[must_use]
    pub const fn with_flags(mut self, flags: CreateFlags) -> Self {
        self.flags = flags;
        self
    }
}

/// The places of [`placement_from_domain`] with the GTT place spelled out, for
/// callers that adjust it (the eviction placement narrows the VRAM place).
///
/// `visible_pfn` is the first page above the CPU-visible window, `gtt_lpfn` the `lpfn`
/// of the GTT place (0 = no GART address), `gtt_fallback` marks the GTT place FALLBACK.
/// At most three places: stored inline, no allocation.
#[must_use]
pub fn places_from_domain(
    domains: Domains,
    flags: CreateFlags,
    kind: BoKind,
    visible_pfn: u32,
    gtt_lpfn: u32,
    gtt_fallback: bool,
) -> Placement {
    let mut places = Placement::empty();
    if domains.contains(Domains::VRAM) {
        let mut p = Place::new(MemType::VRAM);
        if flags.contains(CreateFlags::CPU_ACCESS_REQUIRED) {
            p.lpfn = visible_pfn;
        }
        if flags.contains(CreateFlags::TOPDOWN) {
            p.flags |= PlaceFlags::TOPDOWN;
        }
        if kind == BoKind::Kernel && flags.contains(CreateFlags::VRAM_CONTIGUOUS) {
            p.flags |= PlaceFlags::CONTIGUOUS;
        }
        places.push(p);
    }
    if domains.contains(Domains::GTT) {
        let mut p = Place::new(MemType::TT).with_range(0, gtt_lpfn);
        if gtt_fallback {
            p.flags |= PlaceFlags::FALLBACK;
        }
        places.push(p);
    }
    if domains.contains(Domains::CPU) || places.is_empty() {
        places.push(Place::new(MemType::SYSTEM));
    }
    places
}

/// The TTM placement for `domains` (upstream `amdgpu_bo_placement_from_domain`); see
/// the [module documentation](self) for the rules. An empty domain set gives SYSTEM, as
/// upstream.
///
/// # Examples
/// ```
/// use pddgpu::bo::placement_from_domain;
/// use pddgpu::mgr_common::BoKind;
/// use pddgpu::uapi::{CreateFlags, Domains};
/// use pddgpu_ttm::{MemType, PlaceFlags};
/// let p = placement_from_domain(Domains::VRAM | Domains::GTT,
///     CreateFlags::CPU_ACCESS_REQUIRED, BoKind::User, 65536, 2097152, false);
/// let places = p.places();
/// assert_eq!((places[0].mem_type, places[0].lpfn), (MemType::VRAM, 65536));
/// assert_eq!((places[1].mem_type, places[1].lpfn), (MemType::TT, 0));
/// assert_eq!(places[1].flags, PlaceFlags::empty());
/// ```
#[must_use]
pub fn placement_from_domain(
    domains: Domains,
    flags: CreateFlags,
    kind: BoKind,
    visible_pfn: u32,
    gart_pages: u32,
    already_placed: bool,
) -> Placement {
    let gtt_lpfn = if kind == BoKind::Kernel {
        gart_pages
    } else {
        0
    };
    places_from_domain(
        domains,
        flags,
        kind,
        visible_pfn,
        gtt_lpfn,
        already_placed && domains.contains(Domains::VRAM),
    )
}

/// What the device keeps about a live BO (its registry entry): enough to explain a
/// no-space (pinned and busy BOs per domain) and to report leaks, without keeping the
/// BO alive.
#[derive(Debug, Clone)]
pub(crate) struct BoMeta {
    pub(crate) id: u64,
    pub(crate) size: u64,
    pub(crate) tbo: WeakBo,
    /// The domain bits a pinned BO is pinned in (pinned BOs never move), 0 when
    /// unpinned. Written with the BO reserved.
    pub(crate) pinned_in: u32,
}

/// A PDDGPU buffer object (upstream `struct amdgpu_bo`): a TTM BO plus the create
/// flags, kind and preferred domains. Dropping it destroys the BO.
#[derive(Debug)]
pub struct PddgpuBo {
    dev: Arc<Device>,
    tbo: BufferObject,
    /// The BO's entry in the device registry.
    reg: AllocId,
    flags: CreateFlags,
    kind: BoKind,
    /// Preferred domains (`Domains` bits), set at creation and by
    /// [`PddgpuBo::set_preferred_domains`].
    preferred: AtomicU32,
}

/// The GEM domain of a TTM memory type.
fn domain_of(mem_type: MemType) -> Option<Domains> {
    match mem_type {
        MemType::VRAM => Some(Domains::VRAM),
        MemType::TT => Some(Domains::GTT),
        MemType::SYSTEM => Some(Domains::CPU),
        _ => None,
    }
}

/// The current domain of a reserved BO.
pub(crate) fn reserved_domain(r: &ReservedBo<'_>) -> Option<Domains> {
    r.resource().and_then(|res| domain_of(res.mem_type()))
}

impl PddgpuBo {
    /// Creates a BO and places it (the seed's `pddgpu_bo_create`): checks `param`,
    /// builds the placement from its domains and validates the new TTM BO into it.
    ///
    /// # Errors
    /// - [`Error::NoDevice`]: the device is shut down, or a manager is not READY.
    /// - [`Error::InvalidArgument`]: size 0 or overflowing when rounded to pages, an
    ///   alignment that is not a power of two, priority above 3, an empty domain,
    ///   `CPU_ACCESS_REQUIRED` together with `NO_CPU_ACCESS`.
    /// - [`Error::TooLarge`]: larger than the GTT limit (GTT asked for) or VRAM (VRAM
    ///   asked for), upstream `amdgpu_bo_validate_size`.
    /// - [`Error::NoSpace`]: nothing fits even after eviction; the report says, per
    ///   domain, what was free, the largest free block or hole, and how many BOs there
    ///   are pinned or busy. It is also logged.
    /// - [`Error::OutOfMemory`], [`Error::Io`] (clearing new VRAM failed).
    ///
    /// Nothing stays allocated on error.
    ///
    /// # Complexity
    /// One manager allocation per place tried, plus evictions when the domain is full.
    pub fn create(dev: &Arc<Device>, param: &BoParam) -> Result<Self> {
        dev.check_alive()?;
        let size = check_param(dev, param)?;
        let page_alignment = param.byte_align.max(PAGE_SIZE) / PAGE_SIZE;
        let placement = dev.placement_from_domain(param.domain, param.flags, param.bo_type, false);
        let params = BoParams {
            size,
            page_alignment,
            priority: param.priority,
            kind: match param.bo_type {
                BoKind::Kernel => BoType::Kernel,
                BoKind::User => BoType::Device,
            },
            driver_flags: param.flags.bits(),
        };
        let tbo = dev.ttm().create_bo(params)?;
        // Seed-004 bounded retry, at the level where it helps: TTM has already evicted
        // what it could, so wait for another client to free space and validate again.
        let retry = dev.create_retry(param.domain);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let seen = retry.map(|(_, w)| w.generation());
            let mut r = tbo.reserve();
            let mut ctx = OperationCtx::new();
            crate::ttm_glue::clear_no_space();
            let Err(e) = r.validate(&placement, &mut ctx) else {
                break;
            };
            drop(r);
            if let (Some((policy, waiter)), Some(seen), pddgpu_ttm::Error::NoSpace) =
                (retry, seen, &e)
            {
                if attempts <= policy.retries && dev.check_alive().is_ok() {
                    tracing::debug!(
                        "BO creation found no space, retrying ({attempts}/{})",
                        policy.retries.saturating_add(1)
                    );
                    waiter.wait(seen, policy.wait);
                    continue;
                }
            }
            dev.note_create_failure();
            return Err(dev.explain(e, size, param.domain, param.flags));
        }
        // On error the BO is dropped here: an idle, unshared BO frees its memory at once.
        let reg = dev.register(BoMeta {
            id: tbo.id(),
            size,
            tbo: tbo.downgrade(),
            pinned_in: 0,
        })?;
        Ok(Self {
            dev: Arc::clone(dev),
            tbo,
            reg,
            flags: param.flags,
            kind: param.bo_type,
            preferred: AtomicU32::new(param.domain.bits()),
        })
    }

    /// Device-unique id.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.tbo.id()
    }

    /// Size in bytes (whole pages).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.tbo.size()
    }

    /// The create flags.
    #[must_use]
    pub fn flags(&self) -> CreateFlags {
        self.flags
    }

    /// Kernel or user BO.
    #[must_use]
    pub fn kind(&self) -> BoKind {
        self.kind
    }

    /// The TTM BO (for the GEM layer and tests).
    #[must_use]
    pub fn ttm_bo(&self) -> &BufferObject {
        &self.tbo
    }

    /// The device.
    #[must_use]
    pub fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    /// The preferred domains (upstream `preferred_domains`).
    #[must_use]
    pub fn preferred_domains(&self) -> Domains {
        Domains::from_bits_truncate(self.preferred.load(Ordering::Relaxed))
    }

    /// Changes the preferred domains (uapi `GEM_OP` `SET_PREFERRED_DOMAIN`); the BO
    /// moves on its next [`PddgpuBo::validate`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty set.
    pub fn set_preferred_domains(&self, domains: Domains) -> Result<()> {
        if domains.is_empty() {
            return Err(Error::InvalidArgument("empty domain"));
        }
        self.preferred.store(domains.bits(), Ordering::Relaxed);
        Ok(())
    }

    /// The domain the BO is in now, `None` if it has no backing (purged at shutdown).
    #[must_use]
    pub fn domain(&self) -> Option<Domains> {
        reserved_domain(&self.tbo.reserve())
    }

    /// The device address of the BO (upstream `amdgpu_bo_gpu_offset`): VRAM at the
    /// resource's start (meaningful for contiguous BOs), GTT at its GART address; `None`
    /// for a BO the device cannot reach (SYSTEM, GTT without a GART address).
    #[must_use]
    pub fn gpu_offset(&self) -> Option<DevAddr> {
        let r = self.tbo.reserve();
        let res = r.resource()?;
        match res.mem_type() {
            MemType::VRAM => Some(DevAddr::Vram(res.start() * PAGE_SIZE)),
            MemType::TT => res
                .private::<GttBacking>()
                .and_then(GttBacking::gart_addr)
                .map(DevAddr::Gart),
            _ => None,
        }
    }

    /// Moves the BO into `domains` if it is not already compatible (upstream
    /// `amdgpu_bo_validate` with `amdgpu_bo_placement_from_domain`), evicting others
    /// as needed.
    ///
    /// # Errors
    /// As [`PddgpuBo::create`]; [`Error::InvalidArgument`] if the BO is pinned
    /// elsewhere. On error the BO stays where it was with its contents.
    pub fn validate(&self, domains: Domains) -> Result<()> {
        if domains.is_empty() {
            return Err(Error::InvalidArgument("empty domain"));
        }
        self.dev.check_alive()?;
        let placement = self.placement(domains);
        self.validate_placement(&placement, domains)
    }

    fn placement(&self, domains: Domains) -> Placement {
        let prefers_vram = self.preferred_domains().contains(Domains::VRAM);
        self.dev
            .placement_from_domain(domains, self.flags, self.kind, prefers_vram)
    }

    fn validate_placement(&self, placement: &Placement, domains: Domains) -> Result<()> {
        let mut r = self.tbo.reserve();
        self.validate_reserved(&mut r, placement, domains)
    }

    fn validate_reserved(
        &self,
        r: &mut ReservedBo<'_>,
        placement: &Placement,
        domains: Domains,
    ) -> Result<()> {
        let mut ctx = OperationCtx::new();
        crate::ttm_glue::clear_no_space();
        r.validate(placement, &mut ctx)
            .map_err(|e| self.dev.explain(e, self.size(), domains, self.flags))
    }

    /// Gives a GTT BO a GART address (upstream `amdgpu_ttm_alloc_gart`): a BO in GTT or
    /// SYSTEM moves to a GTT resource with an address, its pages bound there. VRAM BOs
    /// already have a device address.
    ///
    /// # Errors
    /// As [`PddgpuBo::validate`] (no GART space even after evicting GART users →
    /// [`Error::NoSpace`]).
    pub fn alloc_gart(&self) -> Result<()> {
        self.dev.check_alive()?;
        let mut r = self.tbo.reserve();
        if r.resource().map(Resource::mem_type) == Some(MemType::VRAM) {
            return Ok(());
        }
        let placement =
            Placement::from_places(&[Place::new(MemType::TT).with_range(0, self.dev.gart_pages())]);
        self.validate_reserved(&mut r, &placement, Domains::GTT)
    }

    /// Validates into `domains` and pins the BO there (upstream `amdgpu_bo_pin`):
    /// eviction skips it and validation may no longer move it. Pins nest.
    ///
    /// # Errors
    /// As [`PddgpuBo::validate`]; [`Error::InvalidArgument`] if already pinned outside
    /// `domains` or the pin count would overflow.
    pub fn pin(&self, domains: Domains) -> Result<()> {
        if domains.is_empty() {
            return Err(Error::InvalidArgument("empty domain"));
        }
        let mut r = self.tbo.reserve();
        if r.pin_count() > 0 {
            if !reserved_domain(&r).is_some_and(|d| domains.intersects(d)) {
                return Err(Error::InvalidArgument("BO is pinned in another domain"));
            }
        } else {
            self.dev.check_alive()?;
            let placement = self.placement(domains);
            self.validate_reserved(&mut r, &placement, domains)?;
        }
        r.pin()?;
        let pinned = reserved_domain(&r).map_or(0, |d| d.bits());
        self.dev.set_pinned_in(self.reg, pinned);
        Ok(())
    }

    /// Drops one pin (upstream `amdgpu_bo_unpin`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the BO is not pinned.
    pub fn unpin(&self) -> Result<()> {
        let mut r = self.tbo.reserve();
        r.unpin()?;
        if r.pin_count() == 0 {
            self.dev.set_pinned_in(self.reg, 0);
        }
        Ok(())
    }

    /// The pin count.
    #[must_use]
    pub fn pin_count(&self) -> u32 {
        self.tbo.reserve().pin_count()
    }

    /// Marks the BO busy (GPU work pending): eviction waits for it or skips it, and
    /// dropping it makes a zombie. Keep [`PddgpuBo::fence`] to signal after dropping.
    pub fn set_busy(&self) {
        self.tbo.set_busy();
    }

    /// Marks the BO idle (its last fence signalled).
    pub fn signal_idle(&self) {
        self.tbo.signal_idle();
    }

    /// The BO's simulated fence.
    #[must_use]
    pub fn fence(&self) -> Arc<IdleFence> {
        self.tbo.fence()
    }

    // --- CPU access ----------------------------------------------------------------------

    fn check_cpu_access(&self) -> Result<()> {
        if self.flags.contains(CreateFlags::NO_CPU_ACCESS) {
            return Err(Error::PermissionDenied("BO created with NO_CPU_ACCESS"));
        }
        Ok(())
    }

    /// Makes the contents reachable by the CPU in a reserved BO (upstream
    /// `amdgpu_bo_fault_reserve_notify`): a VRAM BO not entirely in the visible window
    /// moves into it, or to GTT if the window has no room.
    fn make_cpu_reachable(&self, r: &mut ReservedBo<'_>) -> Result<()> {
        let visible = r.resource().map_or(true, |res| {
            res.mem_type() != MemType::VRAM || vram_fully_visible(res)
        });
        if visible {
            return Ok(());
        }
        if r.pin_count() > 0 {
            return Err(Error::Fault("BO pinned outside the CPU-visible window"));
        }
        self.dev.check_alive()?;
        let mut places = self.placement(Domains::VRAM);
        for p in places.places_mut() {
            p.lpfn = self.dev.visible_pfn();
        }
        match self.validate_reserved(r, &places, Domains::VRAM) {
            Err(Error::NoSpace(_)) => {
                let gtt = self.placement(Domains::GTT);
                self.validate_reserved(r, &gtt, Domains::GTT)
            }
            other => other,
        }
    }

    /// Makes the BO CPU-accessible now (what a page fault on a mapping does): a BO in
    /// invisible VRAM moves into the visible window or, if that is full, to GTT.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] for a `NO_CPU_ACCESS` BO; [`Error::Fault`] for a BO
    /// pinned outside the window (a fault on it would be `SIGBUS`); as
    /// [`PddgpuBo::validate`] otherwise.
    pub fn prepare_cpu_access(&self) -> Result<()> {
        self.check_cpu_access()?;
        let mut r = self.tbo.reserve();
        self.make_cpu_reachable(&mut r)
    }

    /// Reads `buf.len()` bytes at `offset` through the CPU: the visible VRAM window or
    /// the system pages. A BO outside the window is moved first, as
    /// [`PddgpuBo::prepare_cpu_access`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the range leaves the BO;
    /// [`Error::PermissionDenied`] for `NO_CPU_ACCESS`; [`Error::Fault`] if it is pinned
    /// outside the visible window; a move's errors.
    pub fn cpu_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_cpu_access()?;
        self.check_range(offset, buf.len())?;
        let mut r = self.tbo.reserve();
        self.make_cpu_reachable(&mut r)?;
        let hw = self.dev.hw();
        match r.resource().map(Resource::mem_type) {
            Some(MemType::VRAM) => {
                let blocks = vram_blocks(&r)?;
                let mut pos = 0usize;
                for (at, n) in vram_extents(blocks, offset, buf.len())? {
                    hw.vram().cpu_read(at, &mut buf[pos..pos + n])?;
                    pos += n;
                }
                Ok(())
            }
            _ => match r.tt().filter(|t| t.is_populated()) {
                // Pages never populated read as zero.
                None => {
                    buf.fill(0);
                    Ok(())
                }
                Some(tt) => {
                    let mut pos = 0usize;
                    for (at, n) in page_extents(tt.pages(), offset, buf.len())? {
                        hw.sysmem().read(at, &mut buf[pos..pos + n])?;
                        pos += n;
                    }
                    Ok(())
                }
            },
        }
    }

    /// Writes `data` at `offset` through the CPU (see [`PddgpuBo::cpu_read`]); system
    /// pages are populated on first write.
    ///
    /// # Errors
    /// As [`PddgpuBo::cpu_read`]; [`Error::OutOfMemory`] if pages cannot be populated.
    pub fn cpu_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_cpu_access()?;
        self.check_range(offset, data.len())?;
        let mut r = self.tbo.reserve();
        self.make_cpu_reachable(&mut r)?;
        let hw = self.dev.hw();
        if r.resource().map(Resource::mem_type) == Some(MemType::VRAM) {
            let blocks = vram_blocks(&r)?;
            let mut pos = 0usize;
            for (at, n) in vram_extents(blocks, offset, data.len())? {
                hw.vram().cpu_write(at, &data[pos..pos + n])?;
                pos += n;
            }
            return Ok(());
        }
        if !r.tt().is_some_and(pddgpu_ttm::Tt::is_populated) {
            r.populate_tt()?;
        }
        let tt = r
            .tt()
            .ok_or(Error::InvalidArgument("BO has no system pages"))?;
        let mut pos = 0usize;
        for (at, n) in page_extents(tt.pages(), offset, data.len())? {
            hw.sysmem().write(at, &data[pos..pos + n])?;
            pos += n;
        }
        Ok(())
    }

    // --- device access ---------------------------------------------------------------------

    /// Where the device sees BO byte `offset`, for `len` bytes: VRAM extents, or the GART
    /// range of a GTT BO with an address.
    fn dev_extents(
        &self,
        r: &ReservedBo<'_>,
        offset: u64,
        len: usize,
    ) -> Result<Vec<(DevAddr, usize)>> {
        let res = r.resource().ok_or(Error::Fault("BO has no backing"))?;
        match res.mem_type() {
            MemType::VRAM => Ok(vram_extents(vram_blocks(r)?, offset, len)?
                .into_iter()
                .map(|(a, n)| (DevAddr::Vram(a), n))
                .collect()),
            MemType::TT => {
                let base = res
                    .private::<GttBacking>()
                    .and_then(GttBacking::gart_addr)
                    .ok_or(Error::Fault("GTT BO without a GART address"))?;
                Ok(vec![(DevAddr::Gart(base + offset), len)])
            }
            _ => Err(Error::Fault("SYSTEM BO is not reachable by the device")),
        }
    }

    /// Reads what the device sees at BO byte `offset` (VRAM directly, GTT through the
    /// GART): a test and debug helper, no copy job.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the range leaves the BO; [`Error::Fault`] if the
    /// device cannot reach the BO; [`Error::Hw`] for a GART fault (e.g. after a reset,
    /// before recovery).
    pub fn dev_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        let r = self.tbo.reserve();
        let mut pos = 0usize;
        for (at, n) in self.dev_extents(&r, offset, buf.len())? {
            self.dev.hw().dev_read(at, &mut buf[pos..pos + n])?;
            pos += n;
        }
        Ok(())
    }

    /// Writes `data` where the device sees BO byte `offset` (see [`PddgpuBo::dev_read`]).
    ///
    /// # Errors
    /// As [`PddgpuBo::dev_read`].
    pub fn dev_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_range(offset, data.len())?;
        let r = self.tbo.reserve();
        let mut pos = 0usize;
        for (at, n) in self.dev_extents(&r, offset, data.len())? {
            self.dev.hw().dev_write(at, &data[pos..pos + n])?;
            pos += n;
        }
        Ok(())
    }

    fn check_range(&self, offset: u64, len: usize) -> Result<()> {
        let len = u64::try_from(len).map_err(|_| Error::InvalidArgument("length too large"))?;
        match offset.checked_add(len) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(Error::InvalidArgument("range outside the BO")),
        }
    }
}

impl Drop for PddgpuBo {
    /// Destroys the BO (upstream `amdgpu_bo_unref` → `ttm_bo_put`): an idle BO frees its
    /// memory now, a busy one is left to TTM's delayed delete.
    fn drop(&mut self) {
        self.dev.unregister(self.reg);
    }
}

/// Checks a create request and returns the size rounded to pages.
fn check_param(dev: &Device, param: &BoParam) -> Result<u64> {
    if param.size == 0 {
        return Err(Error::InvalidArgument("BO size must not be 0"));
    }
    let size = param
        .size
        .checked_next_multiple_of(PAGE_SIZE)
        .ok_or(Error::InvalidArgument("BO size overflows"))?;
    if param.byte_align != 0 && !param.byte_align.is_power_of_two() {
        return Err(Error::InvalidArgument("alignment must be a power of two"));
    }
    if param.priority >= pddgpu_ttm::MAX_BO_PRIORITY {
        return Err(Error::InvalidArgument("priority above 3"));
    }
    if param.domain.is_empty() {
        return Err(Error::InvalidArgument("empty domain"));
    }
    if param
        .flags
        .contains(CreateFlags::CPU_ACCESS_REQUIRED | CreateFlags::NO_CPU_ACCESS)
    {
        return Err(Error::InvalidArgument(
            "CPU_ACCESS_REQUIRED and NO_CPU_ACCESS exclude each other",
        ));
    }
    dev.validate_size(size, param.domain)?;
    Ok(size)
}

fn vram_blocks<'a>(r: &'a ReservedBo<'_>) -> Result<&'a [crate::vram_mgr::VramBlock]> {
    r.resource()
        .and_then(|res| res.private::<VramBacking>())
        .map(VramBacking::blocks)
        .ok_or(Error::InvalidArgument("VRAM resource without blocks"))
}

fn vram_fully_visible(res: &Resource) -> bool {
    res.private::<VramBacking>()
        .is_some_and(|b| b.resource().is_fully_visible())
}

/// VRAM byte extents `(offset, len)` of BO bytes `[offset, offset + len)`.
fn vram_extents(
    blocks: &[crate::vram_mgr::VramBlock],
    offset: u64,
    len: usize,
) -> Result<Vec<(u64, usize)>> {
    let mut out = Vec::new();
    let mut want = offset;
    let mut left = len;
    let mut pos = 0u64;
    for b in blocks {
        if left == 0 {
            break;
        }
        let stop = pos + b.size;
        if want < stop {
            let in_block = want - pos;
            let n = usize::try_from(b.size - in_block)
                .unwrap_or(usize::MAX)
                .min(left);
            out.push((b.offset + in_block, n));
            left -= n;
            want += n as u64;
        }
        pos = stop;
    }
    if left != 0 {
        return Err(Error::InvalidArgument("range outside the VRAM blocks"));
    }
    Ok(out)
}

/// System-page extents `(dma address, len)` of BO bytes `[offset, offset + len)`.
fn page_extents(pages: &[u64], offset: u64, len: usize) -> Result<Vec<(DmaAddr, usize)>> {
    let mut out = Vec::new();
    let mut at = offset;
    let mut left = len;
    while left > 0 {
        let idx = usize::try_from(at / PAGE_SIZE)
            .map_err(|_| Error::InvalidArgument("offset too large"))?;
        let page = *pages
            .get(idx)
            .ok_or(Error::InvalidArgument("range outside the BO pages"))?;
        let in_page = at % PAGE_SIZE;
        let n = usize::try_from(PAGE_SIZE - in_page)
            .unwrap_or(usize::MAX)
            .min(left);
        out.push((DmaAddr::new(page + in_page), n));
        left -= n;
        at += n as u64;
    }
    Ok(out)
}
