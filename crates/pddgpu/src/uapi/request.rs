//! Typed, checked requests and replies.
//!
//! A raw structure from C becomes a request only through `TryFrom`, which checks every
//! field; the request types have private fields, so holding one proves it passed. The
//! GEM layer takes these types and never sees a raw structure. Replies go the other way:
//! the GEM layer fills a typed reply and writes it into the raw structure's output
//! fields.
//!
//! The first failed check is reported. `GEM_CREATE` checks in the order of DESIGN §5.5
//! (flags, size, alignment, domain); the other requests check their fields in structure
//! order. Nothing here knows the device: the one check that does, a size
//! against the capacity of the requested domains, is [`GemCreate::check_limits`], for the
//! GEM layer to call with the device's [`DomainLimits`].

use core::num::NonZeroU32;

use super::abi::{
    drm_gem_close, drm_pddgpu_gem_create, drm_pddgpu_gem_info, drm_pddgpu_gem_mmap,
    drm_pddgpu_gem_op, drm_pddgpu_heap_info, drm_pddgpu_info, drm_pddgpu_memory_info,
    PDDGPU_GEM_INVALID_OFFSET, PDDGPU_GEM_OP_PIN, PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN,
    PDDGPU_GEM_OP_UNPIN, PDDGPU_INFO_MEMORY, PDDGPU_PAGE_SIZE,
};
use super::error::{Result, UapiError};
use super::flags::{CreateFlags, Domains};

/// Rejects a non-zero padding or reserved field.
fn check_pad(field: &'static str, value: u32) -> Result<()> {
    if value == 0 {
        Ok(())
    } else {
        Err(UapiError::NonZeroPadding {
            field,
            value: u64::from(value),
        })
    }
}

// ---------------------------------------------------------------------------------
// Handles.

/// A GEM handle as a client names an object: per file, never 0.
///
/// A handle says nothing about whether an object exists: that is the GEM layer's lookup,
/// which answers `ENOENT` for handles it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(NonZeroU32);

impl Handle {
    /// The handle with C value `raw`, or `None` for 0.
    pub const fn new(raw: u32) -> Option<Self> {
        match NonZeroU32::new(raw) {
            Some(raw) => Some(Self(raw)),
            None => None,
        }
    }

    /// The C value (never 0).
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl TryFrom<u32> for Handle {
    type Error = UapiError;

    /// # Errors
    /// [`UapiError::NullHandle`] (`ENOENT`) for 0.
    fn try_from(raw: u32) -> Result<Self> {
        Self::new(raw).ok_or(UapiError::NullHandle)
    }
}

// ---------------------------------------------------------------------------------
// GEM_CREATE.

/// Capacities of the domains, for [`GemCreate::check_limits`]: the device fills it from
/// its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainLimits {
    /// Largest object the CPU domain can hold (system memory), in bytes.
    pub cpu: u64,
    /// Size of the GTT aperture in bytes.
    pub gtt: u64,
    /// Size of VRAM in bytes.
    pub vram: u64,
}

/// A checked `GEM_CREATE` request.
///
/// # Invariants
/// `size` is a non-zero multiple of [`PDDGPU_PAGE_SIZE`]; `alignment` is a power of two
/// and at least [`PDDGPU_PAGE_SIZE`]; `domains` is non-empty; `flags` never holds both
/// CPU access flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemCreate {
    size: u64,
    alignment: u64,
    domains: Domains,
    flags: CreateFlags,
}

impl GemCreate {
    /// Builds a request from Rust values, with the checks of the C path.
    ///
    /// `size` is rounded up to whole pages; `alignment` 0 means one page, and smaller
    /// alignments are raised to a page.
    ///
    /// # Errors
    /// In this order, all `EINVAL`:
    /// - [`UapiError::ConflictingFlags`] if `flags` holds both CPU access flags;
    /// - [`UapiError::ZeroSize`] if `size` is 0;
    /// - [`UapiError::SizeOverflow`] if rounding `size` up to pages overflows `u64`;
    /// - [`UapiError::BadAlignment`] if `alignment` is neither 0 nor a power of two;
    /// - [`UapiError::EmptyDomain`] if `domains` is empty.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{CreateFlags, Domains, GemCreate, UapiError};
    /// let req = GemCreate::new(5000, 0, Domains::VRAM, CreateFlags::VRAM_CONTIGUOUS)?;
    /// assert_eq!((req.size(), req.alignment(), req.num_pages()), (8192, 4096, 2));
    /// assert_eq!(
    ///     GemCreate::new(4096, 3 * 4096, Domains::GTT, CreateFlags::empty()),
    ///     Err(UapiError::BadAlignment { alignment: 3 * 4096 })
    /// );
    /// # Ok::<(), UapiError>(())
    /// ```
    pub fn new(size: u64, alignment: u64, domains: Domains, flags: CreateFlags) -> Result<Self> {
        // Re-check what `from_raw` checks, for requests built in Rust.
        let flags = CreateFlags::from_raw(flags.bits())?;
        if size == 0 {
            return Err(UapiError::ZeroSize);
        }
        let size = size
            .checked_next_multiple_of(PDDGPU_PAGE_SIZE)
            .ok_or(UapiError::SizeOverflow { size })?;
        let alignment = match alignment {
            0 => PDDGPU_PAGE_SIZE,
            a if a.is_power_of_two() => a.max(PDDGPU_PAGE_SIZE),
            a => return Err(UapiError::BadAlignment { alignment: a }),
        };
        if domains.is_empty() {
            return Err(UapiError::EmptyDomain);
        }
        Ok(Self {
            size,
            alignment,
            domains,
            flags,
        })
    }

    /// Size in bytes, a non-zero multiple of the page size.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// Size in pages (TTM `num_pages`).
    pub const fn num_pages(&self) -> u64 {
        self.size / PDDGPU_PAGE_SIZE
    }

    /// Alignment in bytes: a power of two, at least the page size.
    pub const fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Alignment in pages (TTM `page_alignment`): a power of two, at least 1.
    pub const fn page_alignment(&self) -> u64 {
        self.alignment / PDDGPU_PAGE_SIZE
    }

    /// The domains the object may live in (non-empty).
    pub const fn domains(&self) -> Domains {
        self.domains
    }

    /// The create flags.
    pub const fn flags(&self) -> CreateFlags {
        self.flags
    }

    /// The device-dependent check: the object must fit in at least one of its domains.
    ///
    /// This is the hook for the GEM layer, which calls it with the device's capacities
    /// before creating the object.
    ///
    /// # Errors
    /// [`UapiError::TooLarge`] (`EINVAL`) if the size exceeds the capacity of every
    /// requested domain; `limit` is the largest of those capacities.
    ///
    /// # Upstream
    /// amdgpu's `amdgpu_bo_validate_size` checks only the first of GTT, VRAM that is
    /// requested, requires `size <` the domain's size, and answers `ENOMEM`; here any
    /// requested domain that can hold the object is enough, an object may fill its
    /// domain, and the answer is `EINVAL`, as for every other malformed create.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{CreateFlags, DomainLimits, Domains, GemCreate, UapiError};
    /// let limits = DomainLimits { cpu: u64::MAX, gtt: 1 << 30, vram: 1 << 32 };
    /// let req = GemCreate::new(2 << 30, 0, Domains::VRAM | Domains::GTT, CreateFlags::empty())?;
    /// assert_eq!(req.check_limits(&limits), Ok(()));
    /// let req = GemCreate::new(2 << 30, 0, Domains::GTT, CreateFlags::empty())?;
    /// assert_eq!(req.check_limits(&limits), Err(UapiError::TooLarge { size: 2 << 30, limit: 1 << 30 }));
    /// # Ok::<(), UapiError>(())
    /// ```
    pub fn check_limits(&self, limits: &DomainLimits) -> Result<()> {
        let limit = [
            (Domains::CPU, limits.cpu),
            (Domains::GTT, limits.gtt),
            (Domains::VRAM, limits.vram),
        ]
        .into_iter()
        .filter(|&(domain, _)| self.domains.contains(domain))
        .map(|(_, capacity)| capacity)
        .max()
        .unwrap_or(0);
        if self.size <= limit {
            Ok(())
        } else {
            Err(UapiError::TooLarge {
                size: self.size,
                limit,
            })
        }
    }
}

impl TryFrom<&drm_pddgpu_gem_create> for GemCreate {
    type Error = UapiError;

    /// Checks a C `GEM_CREATE` argument. `handle` (output) is ignored.
    ///
    /// # Errors
    /// In this order, all `EINVAL`: [`UapiError::UnknownFlags`],
    /// [`UapiError::ConflictingFlags`], [`UapiError::ZeroSize`],
    /// [`UapiError::SizeOverflow`], [`UapiError::BadAlignment`],
    /// [`UapiError::UnknownDomain`], [`UapiError::EmptyDomain`].
    fn try_from(raw: &drm_pddgpu_gem_create) -> Result<Self> {
        let flags = CreateFlags::from_raw(raw.flags)?;
        // Size and alignment are checked before the domain; an unknown domain bit is
        // reported even next to an otherwise empty mask.
        let checked = Self::new(raw.size, raw.alignment, Domains::all(), flags)?;
        let domains = Domains::from_raw(u64::from(raw.domain))?;
        Ok(Self { domains, ..checked })
    }
}

impl From<&GemCreate> for drm_pddgpu_gem_create {
    /// The C argument for a request (`handle` 0), for Rust clients of the C ABI.
    fn from(req: &GemCreate) -> Self {
        Self {
            size: req.size,
            alignment: req.alignment,
            domain: req.domains.bits(),
            handle: 0,
            flags: req.flags.bits(),
        }
    }
}

// ---------------------------------------------------------------------------------
// GEM_MMAP, GEM_INFO, GEM_CLOSE: a handle and a zero pad.

/// A checked `GEM_MMAP` request: the fake offset of the object `handle` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemMmap {
    /// The object.
    pub handle: Handle,
}

impl TryFrom<&drm_pddgpu_gem_mmap> for GemMmap {
    type Error = UapiError;

    /// Checks a C `GEM_MMAP` argument. `offset` (output) is ignored.
    ///
    /// # Errors
    /// [`UapiError::NullHandle`] (`ENOENT`) for handle 0, then
    /// [`UapiError::NonZeroPadding`] (`EINVAL`) for a non-zero `pad`.
    fn try_from(raw: &drm_pddgpu_gem_mmap) -> Result<Self> {
        let handle = Handle::try_from(raw.handle)?;
        check_pad("pad", raw.pad)?;
        Ok(Self { handle })
    }
}

/// A checked `GEM_INFO` request: describe the object `handle` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemInfo {
    /// The object.
    pub handle: Handle,
}

impl TryFrom<&drm_pddgpu_gem_info> for GemInfo {
    type Error = UapiError;

    /// Checks a C `GEM_INFO` argument. The output fields are ignored.
    ///
    /// # Errors
    /// [`UapiError::NullHandle`] (`ENOENT`) for handle 0, then
    /// [`UapiError::NonZeroPadding`] (`EINVAL`) for a non-zero `pad`.
    fn try_from(raw: &drm_pddgpu_gem_info) -> Result<Self> {
        let handle = Handle::try_from(raw.handle)?;
        check_pad("pad", raw.pad)?;
        Ok(Self { handle })
    }
}

/// A checked `GEM_CLOSE` request: drop `handle` from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemClose {
    /// The handle to drop.
    pub handle: Handle,
}

impl TryFrom<&drm_gem_close> for GemClose {
    type Error = UapiError;

    /// Checks a C `GEM_CLOSE` argument.
    ///
    /// # Errors
    /// [`UapiError::NullHandle`] (`ENOENT`) for handle 0, then
    /// [`UapiError::NonZeroPadding`] (`EINVAL`) for a non-zero `pad`.
    ///
    /// # Upstream
    /// `drm_gem_close_ioctl()` ignores `pad`, and `drm_gem_handle_delete()` answers
    /// `EINVAL` for an unknown handle; here `pad` must be zero like every other pad, and
    /// an unknown handle is `ENOENT` like every other lookup.
    fn try_from(raw: &drm_gem_close) -> Result<Self> {
        let handle = Handle::try_from(raw.handle)?;
        check_pad("pad", raw.pad)?;
        Ok(Self { handle })
    }
}

/// The reply to `GEM_INFO`, written into the output fields of [`drm_pddgpu_gem_info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemInfoReply {
    /// Size in bytes.
    pub size: u64,
    /// Alignment in bytes.
    pub alignment: u64,
    /// The create flags.
    pub flags: CreateFlags,
    /// Device address of the current placement; `None` when the device cannot address
    /// the object (C: [`PDDGPU_GEM_INVALID_OFFSET`]).
    pub gpu_offset: Option<u64>,
    /// The domain the object is in now (one bit).
    pub domain: Domains,
    /// The domains it prefers.
    pub preferred_domains: Domains,
    /// How many times it is pinned.
    pub pin_count: u32,
    /// How many CPU mappings of it are live.
    pub map_count: u32,
}

impl GemInfoReply {
    /// Writes the reply into the output fields of `raw`, leaving `handle` and `pad`.
    pub fn write_to(&self, raw: &mut drm_pddgpu_gem_info) {
        raw.size = self.size;
        raw.alignment = self.alignment;
        raw.flags = self.flags.bits();
        raw.gpu_offset = self.gpu_offset.unwrap_or(PDDGPU_GEM_INVALID_OFFSET);
        raw.domain = self.domain.bits();
        raw.preferred_domain = self.preferred_domains.bits();
        raw.pin_count = self.pin_count;
        raw.map_count = self.map_count;
    }
}

impl TryFrom<&drm_pddgpu_gem_info> for GemInfoReply {
    type Error = UapiError;

    /// Reads the output fields of a completed `GEM_INFO`, for Rust clients of the C ABI.
    ///
    /// # Errors
    /// [`UapiError::UnknownFlags`], [`UapiError::UnknownDomain`] or
    /// [`UapiError::EmptyDomain`] if the fields are not a reply the driver writes.
    fn try_from(raw: &drm_pddgpu_gem_info) -> Result<Self> {
        Ok(Self {
            size: raw.size,
            alignment: raw.alignment,
            flags: CreateFlags::from_raw(raw.flags)?,
            gpu_offset: (raw.gpu_offset != PDDGPU_GEM_INVALID_OFFSET).then_some(raw.gpu_offset),
            domain: Domains::from_raw(u64::from(raw.domain))?,
            preferred_domains: Domains::from_raw(u64::from(raw.preferred_domain))?,
            pin_count: raw.pin_count,
            map_count: raw.map_count,
        })
    }
}

// ---------------------------------------------------------------------------------
// GEM_OP.

/// The operation of a `GEM_OP` request, with its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemOpKind {
    /// `PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN`: the domains to prefer from now on. Takes
    /// effect at the next validation; the object does not move now.
    SetPreferredDomain(Domains),
    /// `PDDGPU_GEM_OP_PIN`: pin the object in one of these domains (moving it there if
    /// needed); pins nest.
    Pin(Domains),
    /// `PDDGPU_GEM_OP_UNPIN`: drop one pin.
    Unpin,
}

/// A checked `GEM_OP` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemOp {
    /// The object.
    pub handle: Handle,
    /// What to do to it.
    pub op: GemOpKind,
}

impl TryFrom<&drm_pddgpu_gem_op> for GemOp {
    type Error = UapiError;

    /// Checks a C `GEM_OP` argument.
    ///
    /// # Errors
    /// In this order: [`UapiError::NullHandle`] (`ENOENT`) for handle 0;
    /// [`UapiError::UnknownOp`] (`EINVAL`) for an unknown `op`; then, all `EINVAL`, for
    /// `SET_PREFERRED_DOMAIN` and `PIN` the errors of [`Domains::from_raw`] on `value`,
    /// and for `UNPIN` [`UapiError::BadOpValue`] if `value` is not 0.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::uapi::{abi::drm_pddgpu_gem_op, Domains, GemOp, GemOpKind, UapiError};
    /// let raw = drm_pddgpu_gem_op { handle: 1, op: 2, value: 0x4 };
    /// assert_eq!(GemOp::try_from(&raw)?.op, GemOpKind::Pin(Domains::VRAM));
    /// # Ok::<(), UapiError>(())
    /// ```
    fn try_from(raw: &drm_pddgpu_gem_op) -> Result<Self> {
        let handle = Handle::try_from(raw.handle)?;
        let op = match raw.op {
            PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN => {
                GemOpKind::SetPreferredDomain(Domains::from_raw(raw.value)?)
            }
            PDDGPU_GEM_OP_PIN => GemOpKind::Pin(Domains::from_raw(raw.value)?),
            PDDGPU_GEM_OP_UNPIN if raw.value == 0 => GemOpKind::Unpin,
            PDDGPU_GEM_OP_UNPIN => {
                return Err(UapiError::BadOpValue {
                    op: raw.op,
                    value: raw.value,
                })
            }
            op => return Err(UapiError::UnknownOp { op }),
        };
        Ok(Self { handle, op })
    }
}

impl From<&GemOp> for drm_pddgpu_gem_op {
    /// The C argument for a request, for Rust clients of the C ABI.
    fn from(req: &GemOp) -> Self {
        let (op, value) = match req.op {
            GemOpKind::SetPreferredDomain(d) => {
                (PDDGPU_GEM_OP_SET_PREFERRED_DOMAIN, u64::from(d.bits()))
            }
            GemOpKind::Pin(d) => (PDDGPU_GEM_OP_PIN, u64::from(d.bits())),
            GemOpKind::Unpin => (PDDGPU_GEM_OP_UNPIN, 0),
        };
        Self {
            handle: req.handle.get(),
            op,
            value,
        }
    }
}

// ---------------------------------------------------------------------------------
// INFO.

/// A checked `INFO` request: which query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoQuery {
    /// `PDDGPU_INFO_MEMORY`: the memory heaps ([`MemoryInfo`]).
    Memory,
}

impl TryFrom<&drm_pddgpu_info> for InfoQuery {
    type Error = UapiError;

    /// Checks a C `INFO` argument. The output area is ignored.
    ///
    /// # Errors
    /// [`UapiError::UnknownQuery`] for an unknown `query`, then
    /// [`UapiError::NonZeroPadding`] for a non-zero `pad`; both `EINVAL`.
    fn try_from(raw: &drm_pddgpu_info) -> Result<Self> {
        let query = match raw.query {
            PDDGPU_INFO_MEMORY => InfoQuery::Memory,
            query => return Err(UapiError::UnknownQuery { query }),
        };
        check_pad("pad", raw.pad)?;
        Ok(query)
    }
}

/// One memory heap in the reply to `PDDGPU_INFO_MEMORY` (amdgpu's
/// `drm_amdgpu_heap_info`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HeapInfo {
    /// Bytes the heap has.
    pub total_heap_size: u64,
    /// Bytes available to clients: total less reserved ranges (bad pages, the copy
    /// engine's transfer windows).
    pub usable_heap_size: u64,
    /// Bytes in use.
    pub heap_usage: u64,
    /// The largest free block: the largest object that fits now without eviction.
    ///
    /// # Upstream
    /// amdgpu reports an estimate (three quarters of the usable size); this is exact.
    pub max_allocation: u64,
}

/// The reply to `PDDGPU_INFO_MEMORY` (amdgpu's `drm_amdgpu_memory_info`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoryInfo {
    /// All of VRAM (amdgpu sysfs `mem_info_vram_total`, `mem_info_vram_used`).
    pub vram: HeapInfo,
    /// The CPU-visible window of VRAM (`mem_info_vis_vram_total`, `..._used`).
    pub cpu_accessible_vram: HeapInfo,
    /// The GTT aperture (`mem_info_gtt_total`, `mem_info_gtt_used`).
    pub gtt: HeapInfo,
}

impl From<HeapInfo> for drm_pddgpu_heap_info {
    fn from(h: HeapInfo) -> Self {
        Self {
            total_heap_size: h.total_heap_size,
            usable_heap_size: h.usable_heap_size,
            heap_usage: h.heap_usage,
            max_allocation: h.max_allocation,
        }
    }
}

impl From<drm_pddgpu_heap_info> for HeapInfo {
    fn from(h: drm_pddgpu_heap_info) -> Self {
        Self {
            total_heap_size: h.total_heap_size,
            usable_heap_size: h.usable_heap_size,
            heap_usage: h.heap_usage,
            max_allocation: h.max_allocation,
        }
    }
}

impl From<MemoryInfo> for drm_pddgpu_memory_info {
    fn from(m: MemoryInfo) -> Self {
        Self {
            vram: m.vram.into(),
            cpu_accessible_vram: m.cpu_accessible_vram.into(),
            gtt: m.gtt.into(),
        }
    }
}

impl From<drm_pddgpu_memory_info> for MemoryInfo {
    fn from(m: drm_pddgpu_memory_info) -> Self {
        Self {
            vram: m.vram.into(),
            cpu_accessible_vram: m.cpu_accessible_vram.into(),
            gtt: m.gtt.into(),
        }
    }
}

impl MemoryInfo {
    /// Writes the reply into the output area of `raw`, leaving `query` and `pad`.
    pub fn write_to(&self, raw: &mut drm_pddgpu_info) {
        raw.memory = (*self).into();
    }
}
