//! GEM: per-client files, handles, refcounted objects, mmap offsets and CPU mappings.
//!
//! # Overview
//!
//! A [`File`] is one client of a device, what an open DRM file descriptor is in Linux
//! (`struct drm_file`). It is opened with [`File::open`] (or `dev.open()` through
//! [`OpenFile`]) and names buffer objects by [`Handle`]s: `u32` values starting at 1,
//! private to the file, handed out in increasing order and never reused while the file
//! lives, so a closed (stale) handle answers `ENOENT` instead of naming a new object.
//!
//! A [`GemObject`] wraps one [`PddgpuBo`] and is reference counted (`Arc`): each handle
//! in each file, each CPU [`Mapping`] and each [`DmaBuf`] export holds one reference.
//! The BO is destroyed (its memory freed, `VRAM_WIPE_ON_RELEASE` honoured) exactly when
//! the last of them goes. Dropping a [`File`] drops every handle it holds.
//!
//! The ioctl-style API on [`File`] ([`File::gem_create`], [`File::gem_mmap`],
//! [`File::gem_info`], [`File::gem_op`], [`File::info`], [`File::gem_close`]) takes the
//! checked requests of [`crate::uapi`] and returns typed results;
//! [`File::ioctl`](File::ioctl) decodes a raw DRM request code and argument bytes with
//! the DRM copy rules and dispatches to them; it is the one place errno values appear.
//!
//! # CPU access
//!
//! [`File::map`] returns a [`Mapping`]: the object is first made CPU reachable (moved
//! into the CPU-visible VRAM window, or to GTT when the window is full, as amdgpu's
//! fault handler does) and then pinned where it is, so eviction never moves a mapped
//! object. The pin is dropped with the last mapping. [`Mapping::read`] and
//! [`Mapping::write`] go through the CPU path of the simulated device.
//!
//! `GEM_MMAP` gives an object a fake mmap offset in this file (as
//! `drm_vma_node_offset_addr`); [`File::map_offset`] maps by offset, which is what the C
//! `pddgpu_mmap` does. Offsets are page aligned, unique in the file, and revoked when
//! the file's handle to the object is closed.
//!
//! # Sharing
//!
//! [`File::export`] turns a handle into a [`DmaBuf`] (PRIME-like: it holds a reference
//! to the object, like a dma-buf file); [`File::import`] in any file of the same device
//! gives a handle to the same object, the same handle each time within one file
//! (`drm_prime_fd_to_handle`).
//!
//! # Security
//!
//! Handles are per file: another file's handle value is just an unknown handle. New
//! objects never show a previous owner's bytes: the BO layer zeroes new VRAM unless the
//! buddy allocator says the blocks are clear, and system pages come zeroed.
//!
//! # Examples
//! ```
//! use pddgpu::gem::OpenFile;
//! use pddgpu::uapi::{CreateFlags, Domains, GemCreate};
//! use pddgpu::{Device, DeviceConfig};
//!
//! let dev = Device::new(DeviceConfig::default())?;
//! let (a, b) = (dev.open()?, dev.open()?);
//! let req = GemCreate::new(64 << 10, 0, Domains::VRAM, CreateFlags::empty())?;
//! let handle = a.gem_create(&req)?;
//! assert_eq!(handle.get(), 1);
//! {
//!     let map = a.map(handle)?; // moved into the CPU-visible window, pinned there
//!     map.write(0, b"hello")?;
//! } // unmapped: the pin is gone
//!
//! // Handles are per file; sharing goes through an export.
//! assert!(b.gem_info(handle).is_err());
//! let buf = a.export(handle)?;
//! let in_b = b.import(&buf)?;
//! drop(buf);
//! a.gem_close(handle)?;
//! let mut got = [0u8; 5];
//! b.map(in_b)?.read(0, &mut got)?;
//! assert_eq!(&got, b"hello");
//! b.gem_close(in_b)?; // the last reference: the BO is destroyed
//! assert_eq!(dev.mem_info().vram_used, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Costs
//! Handle lookups are O(1) (hash map keyed by the handle, a multiplicative hash: the
//! keys are our own counters); an object created in a file finds its handle there
//! without a second table. mmap-offset lookups are O(log n) in the file's
//! mapped objects. Creation and CPU access cost what the BO layer's do.
//!
//! # Synchronization
//! A [`File`] is `Send + Sync`; its tables sit behind one mutex, a leaf lock never held
//! while calling the BO layer, so an object is created, moved or destroyed outside it.
//! Each object has a second leaf-level mutex serialising its map and pin bookkeeping
//! with the matching BO pins (order: object mutex, then the BO reservation).

mod error;

pub use error::{Error, Result};

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::bo::{BoParam, PddgpuBo};
use crate::device::Device;
use crate::hw::DevAddr;
use crate::mgr_common::{BoKind, PAGE_SIZE};
use crate::uapi::{
    DomainLimits, Domains, Errno, GemCreate, GemInfoReply, GemOp, GemOpKind, Handle, HeapInfo,
    InfoQuery, MemoryInfo,
};

/// The first fake mmap offset of a file: above 4 GiB, like DRM's
/// `DRM_FILE_PAGE_OFFSET_START`, so that an offset is never mistaken for a small size.
pub const MMAP_OFFSET_START: u64 = 1 << 32;

/// How many times [`File::map`] retries making an object CPU reachable when a
/// concurrent pin moved it between the move and the map pin.
const MAP_TRIES: usize = 4;

/// Hasher for the integer keys of the file tables (handles, object ids): one
/// multiply by a 64-bit odd constant (Fibonacci hashing). The keys are dense counters
/// from this module, not attacker-chosen, so SipHash's flood resistance buys nothing
/// and costs a large part of a create + close.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl core::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // The high bits feed hashbrown's control bytes, so mix the key into them.
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// A hash map keyed by handles or object ids.
type IdMap<K, V> = HashMap<K, V, core::hash::BuildHasherDefault<IdHasher>>;

/// Source of device-unique object ids (keys of the per-file import table).
static NEXT_OBJECT_ID: AtomicU64 = AtomicU64::new(1);

/// Source of process-unique file ids (so an object knows the file that created it).
static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

// ---------------------------------------------------------------------------------
// Objects.

/// A GEM object: one buffer object shared by the handles, mappings and exports that
/// reference it (upstream `struct drm_gem_object` embedding the driver BO).
///
/// The BO is destroyed when the last `Arc<GemObject>` is dropped.
pub struct GemObject {
    /// Device-unique id.
    id: u64,
    /// The file that created the object and the handle it got there: that file finds
    /// the object's handle here instead of in its import table.
    creator: (u64, u32),
    bo: PddgpuBo,
    /// The alignment asked for at creation, in bytes (at least a page).
    alignment: u64,
    /// Map and pin bookkeeping; its invariants hold whenever the lock is free.
    cpu: Mutex<CpuState>,
}

/// # Invariants
/// The BO carries exactly `user_pins` pins from `GEM_OP` plus one pin while
/// `map_count > 0` (the map pin).
#[derive(Debug, Default)]
struct CpuState {
    /// Live CPU mappings.
    map_count: u32,
    /// Pins taken through `GEM_OP` `PIN` and not yet dropped by `UNPIN`.
    user_pins: u32,
}

impl fmt::Debug for GemObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GemObject")
            .field("id", &self.id)
            .field("bo", &self.bo.id())
            .field("size", &self.bo.size())
            .finish_non_exhaustive()
    }
}

impl GemObject {
    /// The buffer object.
    #[must_use]
    pub fn bo(&self) -> &PddgpuBo {
        &self.bo
    }

    /// Size in bytes (whole pages).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.bo.size()
    }

    /// Live CPU mappings of the object.
    #[must_use]
    pub fn map_count(&self) -> u32 {
        self.cpu.lock().map_count
    }

    /// Pins taken through `GEM_OP` and not dropped yet.
    #[must_use]
    pub fn user_pins(&self) -> u32 {
        self.cpu.lock().user_pins
    }

    /// Takes the map pin if this is the first mapping: moves the BO where the CPU
    /// reaches it and pins it there.
    fn map_get(&self) -> Result<()> {
        let mut cpu = self.cpu.lock();
        if cpu.map_count == 0 {
            self.pin_cpu_reachable()?;
        }
        // The count cannot reach u32::MAX: every mapping holds an Arc, and memory runs
        // out long before; saturate rather than wrap if it ever did.
        cpu.map_count = cpu.map_count.saturating_add(1);
        Ok(())
    }

    /// Drops one mapping; the last one drops the map pin.
    fn map_put(&self) {
        let mut cpu = self.cpu.lock();
        cpu.map_count = cpu.map_count.saturating_sub(1);
        if cpu.map_count == 0 {
            if let Err(e) = self.bo.unpin() {
                tracing::error!("dropping the map pin of BO {}: {e}", self.bo.id());
            }
        }
    }

    /// Moves the BO into CPU-reachable memory and pins it there. A pin from another
    /// thread can move the BO between the two steps; the check after pinning catches
    /// that, and the step is retried.
    fn pin_cpu_reachable(&self) -> Result<()> {
        for _ in 0..MAP_TRIES {
            self.bo.prepare_cpu_access()?;
            let domain = self
                .bo
                .domain()
                .ok_or(crate::device::Error::Fault("BO has no backing"))?;
            self.bo.pin(domain)?;
            // A zero-length read moves nothing when the BO is reachable, and fails (the
            // BO is pinned) when it is not.
            if self.bo.cpu_read(0, &mut []).is_ok() {
                return Ok(());
            }
            self.bo.unpin()?;
        }
        Err(Error::MapContended)
    }

    /// `GEM_OP` `PIN`.
    fn user_pin(&self, domains: Domains) -> Result<()> {
        let mut cpu = self.cpu.lock();
        let pins = cpu
            .user_pins
            .checked_add(1)
            .ok_or(crate::device::Error::InvalidArgument(
                "pin count would overflow",
            ))?;
        self.bo.pin(domains)?;
        cpu.user_pins = pins;
        Ok(())
    }

    /// `GEM_OP` `UNPIN`.
    fn user_unpin(&self) -> Result<()> {
        let mut cpu = self.cpu.lock();
        let pins = cpu.user_pins.checked_sub(1).ok_or(Error::NotPinned)?;
        self.bo.unpin()?;
        cpu.user_pins = pins;
        Ok(())
    }
}

impl Drop for GemObject {
    /// Drops the pins clients left behind so the BO is destroyed unpinned (mappings
    /// hold a reference, so none is left here).
    fn drop(&mut self) {
        let cpu = self.cpu.get_mut();
        for _ in 0..cpu.user_pins {
            if let Err(e) = self.bo.unpin() {
                tracing::error!("unpinning BO {} at release: {e}", self.bo.id());
                break;
            }
        }
        cpu.user_pins = 0;
    }
}

// ---------------------------------------------------------------------------------
// Files.

/// Opens a new client of `dev`; the same as [`File::open`].
///
/// # Errors
/// As [`File::open`].
pub fn open(dev: &Arc<Device>) -> Result<File> {
    File::open(dev)
}

/// Opening files on a device: `dev.open()`.
pub trait OpenFile {
    /// Opens a new client of the device; see [`File::open`].
    ///
    /// # Errors
    /// As [`File::open`].
    fn open(&self) -> Result<File>;
}

impl OpenFile for Arc<Device> {
    fn open(&self) -> Result<File> {
        File::open(self)
    }
}

/// One client of a device (upstream `struct drm_file`). See the
/// [module documentation](self).
pub struct File {
    dev: Arc<Device>,
    inner: Mutex<FileInner>,
}

/// The tables of a file.
///
/// # Invariants
/// An object has at most one handle here. A handle `h` naming an object created by
/// this file as `h` (its `creator`) has no `by_object` entry; every other handle has
/// `by_object[object id] == h` (imports, and re-imports after the creator handle was
/// closed), and `by_object` has no other entries. `mmap` and `offsets` are inverse
/// maps over handles of this file; every handle is below `next_handle`.
#[derive(Default)]
struct FileInner {
    /// This file's id (see [`GemObject`]'s `creator`).
    id: u64,
    /// The next handle value to hand out (handles are never reused).
    next_handle: u32,
    handles: IdMap<u32, Arc<GemObject>>,
    /// Object id → its handle here, for objects not created here under that handle.
    by_object: IdMap<u64, u32>,
    /// Fake mmap offset → handle, for objects `GEM_MMAP` was called on.
    mmap: BTreeMap<u64, u32>,
    /// Handle → fake mmap offset.
    offsets: IdMap<u32, u64>,
    /// The next fake mmap offset to hand out.
    next_offset: u64,
}

impl FileInner {
    /// The handle the next installation gets, and the value after it.
    fn next_handle(&self) -> Result<(Handle, u32)> {
        let raw = self.next_handle.max(1);
        let next = raw.checked_add(1).ok_or(Error::HandlesExhausted)?;
        Ok((Handle::new(raw).ok_or(Error::HandlesExhausted)?, next))
    }

    /// The handle `obj` already has in this file, if any.
    fn handle_of(&self, obj: &Arc<GemObject>) -> Option<u32> {
        if obj.creator.0 == self.id {
            let h = obj.creator.1;
            if self.handles.get(&h).is_some_and(|o| Arc::ptr_eq(o, obj)) {
                return Some(h);
            }
        }
        self.by_object.get(&obj.id).copied()
    }

    fn lookup(&self, handle: Handle) -> Result<Arc<GemObject>> {
        self.handles
            .get(&handle.get())
            .cloned()
            .ok_or(Error::NoEntry {
                handle: handle.get(),
            })
    }

    /// Installs a handle for an object of another file (or re-imported here), or
    /// returns the one it already has here.
    fn import(&mut self, obj: Arc<GemObject>) -> Result<Handle> {
        if let Some(h) = self.handle_of(&obj) {
            return Handle::new(h).ok_or(Error::HandlesExhausted);
        }
        let (handle, next) = self.next_handle()?;
        self.by_object.insert(obj.id, handle.get());
        self.handles.insert(handle.get(), obj);
        self.next_handle = next;
        Ok(handle)
    }

    /// Removes a handle; the caller drops the returned reference outside the lock.
    fn remove(&mut self, handle: Handle) -> Result<Arc<GemObject>> {
        let h = handle.get();
        let obj = self
            .handles
            .remove(&h)
            .ok_or(Error::NoEntry { handle: h })?;
        if obj.creator != (self.id, h) {
            self.by_object.remove(&obj.id);
        }
        if !self.offsets.is_empty() {
            if let Some(offset) = self.offsets.remove(&h) {
                self.mmap.remove(&offset);
            }
        }
        Ok(obj)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("File")
            .field("handles", &inner.handles.len())
            .field("next_handle", &inner.next_handle.max(1))
            .field("mmap_offsets", &inner.mmap.len())
            .finish_non_exhaustive()
    }
}

impl File {
    /// Opens a new client of `dev` (upstream `drm_open`): an empty handle table.
    ///
    /// # Errors
    /// [`Error::Device`] with `NoDevice` (`ENODEV`) if the device is shut down.
    pub fn open(dev: &Arc<Device>) -> Result<Self> {
        dev.check_alive()?;
        Ok(Self {
            dev: Arc::clone(dev),
            inner: Mutex::new(FileInner {
                id: NEXT_FILE_ID.fetch_add(1, Ordering::Relaxed),
                next_handle: 1,
                next_offset: MMAP_OFFSET_START,
                ..FileInner::default()
            }),
        })
    }

    /// The device.
    #[must_use]
    pub fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    /// The Linux errno a client of this file sees for `err` (`ENOMEM` for a final
    /// no-space unless the device propagates `ENOSPC`; see [`Error`]).
    #[must_use]
    pub fn errno(&self, err: &Error) -> Errno {
        err.errno_with(self.dev.config().propagate_enospc)
    }

    /// Number of live handles in this file.
    #[must_use]
    pub fn handle_count(&self) -> usize {
        self.inner.lock().handles.len()
    }

    /// The live handles of this file, in increasing order.
    #[must_use]
    pub fn handles(&self) -> Vec<Handle> {
        let mut v: Vec<Handle> = self
            .inner
            .lock()
            .handles
            .keys()
            .filter_map(|&h| Handle::new(h))
            .collect();
        v.sort_unstable();
        v
    }

    /// The object `handle` names in this file.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`) for an unknown, stale or foreign handle.
    pub fn object(&self, handle: Handle) -> Result<Arc<GemObject>> {
        self.inner.lock().lookup(handle)
    }

    /// `GEM_CREATE`: creates an object and returns its new handle (upstream
    /// `amdgpu_gem_create_ioctl`).
    ///
    /// # Errors
    /// - [`Error::Uapi`] `TooLarge` (`EINVAL`): larger than every requested domain;
    /// - [`Error::Device`]: `NoDevice` (`ENODEV`), `NoSpace` (`ENOMEM`, or `ENOSPC`
    ///   with `propagate_enospc`), `OutOfMemory`, `Io`;
    /// - [`Error::HandlesExhausted`] (`ENOSPC`).
    ///
    /// Nothing is allocated and no handle is used up on error.
    pub fn gem_create(&self, req: &GemCreate) -> Result<Handle> {
        let cfg = self.dev.config();
        req.check_limits(&DomainLimits {
            cpu: cfg.hw.sys_mem_size,
            gtt: self.dev.gtt_mgr().mem_info_gtt_total(),
            vram: self.dev.vram_mgr().mem_info_vram_total(),
        })?;
        let param = BoParam {
            size: req.size(),
            byte_align: req.alignment(),
            domain: req.domains(),
            flags: req.flags(),
            bo_type: BoKind::User,
            priority: 0,
        };
        let bo = self.dev.bo_create(&param)?;
        let mut inner = self.inner.lock();
        let (handle, next) = match inner.next_handle() {
            Ok(h) => h,
            Err(e) => {
                drop(inner);
                // Outside the lock: this frees the BO.
                drop(bo);
                return Err(e);
            }
        };
        let obj = Arc::new(GemObject {
            id: NEXT_OBJECT_ID.fetch_add(1, Ordering::Relaxed),
            creator: (inner.id, handle.get()),
            bo,
            alignment: req.alignment(),
            cpu: Mutex::new(CpuState::default()),
        });
        inner.handles.insert(handle.get(), obj);
        inner.next_handle = next;
        Ok(handle)
    }

    /// `GEM_CLOSE`: drops `handle` from this file (upstream `drm_gem_close_ioctl`). The
    /// object is destroyed if this was its last reference.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`) for an unknown, stale or foreign handle.
    pub fn gem_close(&self, handle: Handle) -> Result<()> {
        let obj = self.inner.lock().remove(handle)?;
        drop(obj);
        Ok(())
    }

    /// `GEM_MMAP`: the fake mmap offset of the object (upstream
    /// `amdgpu_gem_mmap_ioctl`), the same each time until the handle is closed.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`); [`Error::Device`] `PermissionDenied` (`EPERM`)
    /// for an object created with `NO_CPU_ACCESS`; [`Error::BadMmapRange`] if the
    /// file's offset space is exhausted.
    pub fn gem_mmap(&self, handle: Handle) -> Result<u64> {
        let mut inner = self.inner.lock();
        let obj = inner.lookup(handle)?;
        if obj
            .bo
            .flags()
            .contains(crate::uapi::CreateFlags::NO_CPU_ACCESS)
        {
            return Err(
                crate::device::Error::PermissionDenied("BO created with NO_CPU_ACCESS").into(),
            );
        }
        if let Some(&offset) = inner.offsets.get(&handle.get()) {
            return Ok(offset);
        }
        let offset = inner.next_offset;
        let next = offset.checked_add(obj.size()).ok_or(Error::BadMmapRange {
            offset,
            length: obj.size(),
        })?;
        inner.next_offset = next;
        inner.mmap.insert(offset, handle.get());
        inner.offsets.insert(handle.get(), offset);
        Ok(offset)
    }

    /// `GEM_INFO`: describes the object.
    ///
    /// The domain of an object whose contents were purged at shutdown is `CPU`.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`).
    pub fn gem_info(&self, handle: Handle) -> Result<GemInfoReply> {
        let obj = self.object(handle)?;
        let (pin_count, map_count) = {
            let cpu = obj.cpu.lock();
            (cpu.user_pins, cpu.map_count)
        };
        Ok(GemInfoReply {
            size: obj.size(),
            alignment: obj.alignment,
            flags: obj.bo.flags(),
            gpu_offset: obj.bo.gpu_offset().map(|a| match a {
                DevAddr::Vram(a) | DevAddr::Gart(a) => a,
            }),
            domain: obj.bo.domain().unwrap_or(Domains::CPU),
            preferred_domains: obj.bo.preferred_domains(),
            pin_count,
            map_count,
        })
    }

    /// `GEM_OP`: set the preferred domains (takes effect at the next validation), pin
    /// the object in one of some domains (moving it there first), or drop a pin taken
    /// this way.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`); [`Error::NotPinned`] (`EINVAL`) for `Unpin`
    /// without a `GEM_OP` pin; for `Pin` the BO layer's errors (`EINVAL` if pinned, or
    /// mapped, in another domain; `ENOMEM`/`ENOSPC` if it cannot be placed).
    pub fn gem_op(&self, req: &GemOp) -> Result<()> {
        let obj = self.object(req.handle)?;
        match req.op {
            GemOpKind::SetPreferredDomain(d) => Ok(obj.bo.set_preferred_domains(d)?),
            GemOpKind::Pin(d) => obj.user_pin(d),
            GemOpKind::Unpin => obj.user_unpin(),
        }
    }

    /// `INFO`: device queries. `Memory` reports the heaps from the managers' counters:
    ///
    /// | heap | total | usable | usage | max_allocation |
    /// |---|---|---|---|---|
    /// | `vram` | VRAM size | total − reserved ranges and user reserve | `mem_info_vram_used` | largest free buddy block |
    /// | `cpu_accessible_vram` | visible size | visible size | `mem_info_vis_vram_used` | largest free block entirely in the window |
    /// | `gtt` | GTT limit | GTT limit | `mem_info_gtt_used` | min(largest free GART range, limit − usage) |
    ///
    /// # Errors
    /// None today; the `Result` is for queries that can fail.
    pub fn info(&self, query: InfoQuery) -> Result<MemoryInfo> {
        match query {
            InfoQuery::Memory => Ok(self.memory_info()),
        }
    }

    fn memory_info(&self) -> MemoryInfo {
        let vram = self.dev.vram_mgr();
        let gtt = self.dev.gtt_mgr();
        let mem = self.dev.mem_info();
        MemoryInfo {
            vram: HeapInfo {
                total_heap_size: mem.vram_total,
                usable_heap_size: mem.vram_total.saturating_sub(vram.reserved_bytes()),
                heap_usage: mem.vram_used,
                max_allocation: vram.largest_free_block_below(u64::MAX),
            },
            cpu_accessible_vram: HeapInfo {
                total_heap_size: mem.vis_vram_total,
                usable_heap_size: mem.vis_vram_total,
                heap_usage: mem.vis_vram_used,
                max_allocation: vram.largest_free_block_below(mem.vis_vram_total),
            },
            gtt: HeapInfo {
                total_heap_size: mem.gtt_total,
                usable_heap_size: mem.gtt_total,
                heap_usage: mem.gtt_used,
                max_allocation: gtt
                    .largest_free_range()
                    .min(mem.gtt_total.saturating_sub(mem.gtt_used)),
            },
        }
    }

    /// Maps the whole object for CPU access (see the [module documentation](self)):
    /// the object moves into CPU-reachable memory if needed and stays there until the
    /// last mapping is dropped.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`); [`Error::Device`] `PermissionDenied` (`EPERM`)
    /// for `NO_CPU_ACCESS`, or a move's errors; [`Error::MapContended`] (`EBUSY`).
    pub fn map(&self, handle: Handle) -> Result<Mapping> {
        let obj = self.object(handle)?;
        let size = obj.size();
        Mapping::new(obj, 0, size)
    }

    /// Maps `length` bytes at the fake mmap offset `offset` (as `mmap` on a DRM fd):
    /// `offset` may point into the object at a page boundary.
    ///
    /// # Errors
    /// [`Error::BadMmapRange`] (`EINVAL`) if no object of this file has a `GEM_MMAP`
    /// offset covering the range, the range is empty or not page aligned at its start;
    /// then as [`File::map`].
    pub fn map_offset(&self, offset: u64, length: u64) -> Result<Mapping> {
        let bad = Error::BadMmapRange { offset, length };
        let obj = {
            let inner = self.inner.lock();
            let (&start, &handle) = inner.mmap.range(..=offset).next_back().ok_or(bad)?;
            let obj = inner
                .handles
                .get(&handle)
                .cloned()
                .ok_or(Error::BadMmapRange { offset, length })?;
            let within = offset - start;
            let end = within.checked_add(length);
            if length == 0 || within % PAGE_SIZE != 0 || !matches!(end, Some(e) if e <= obj.size())
            {
                return Err(Error::BadMmapRange { offset, length });
            }
            (obj, within)
        };
        Mapping::new(obj.0, obj.1, length)
    }

    /// Exports the object as a [`DmaBuf`] (PRIME `HANDLE_TO_FD`), which keeps it alive
    /// until dropped.
    ///
    /// # Errors
    /// [`Error::NoEntry`] (`ENOENT`).
    pub fn export(&self, handle: Handle) -> Result<DmaBuf> {
        Ok(DmaBuf {
            obj: self.object(handle)?,
        })
    }

    /// Imports an exported object (PRIME `FD_TO_HANDLE`): a handle to it in this file,
    /// the handle it already has here if any.
    ///
    /// # Errors
    /// [`Error::ForeignDevice`] (`EINVAL`) for an object of another device;
    /// [`Error::HandlesExhausted`] (`ENOSPC`).
    pub fn import(&self, buf: &DmaBuf) -> Result<Handle> {
        if !Arc::ptr_eq(buf.obj.bo.device(), &self.dev) {
            return Err(Error::ForeignDevice);
        }
        self.inner.lock().import(Arc::clone(&buf.obj))
    }

    /// Verifies the file's tables: inverse maps agree, handles below the next value,
    /// offsets only for objects with a handle here.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn check(&self) -> core::result::Result<(), String> {
        let inner = self.inner.lock();
        let mut imported = 0usize;
        for (&h, obj) in &inner.handles {
            if h == 0 || h >= inner.next_handle {
                return Err(format!("handle {h} outside 1..{}", inner.next_handle));
            }
            if obj.creator == (inner.id, h) {
                if inner.by_object.contains_key(&obj.id) {
                    return Err(format!(
                        "handle {h}: object {} created here also in the import table",
                        obj.id
                    ));
                }
            } else {
                if inner.by_object.get(&obj.id) != Some(&h) {
                    return Err(format!("handle {h}: object {} maps elsewhere", obj.id));
                }
                imported += 1;
            }
        }
        if imported != inner.by_object.len() {
            return Err(format!(
                "{imported} imported handles but {} import table entries",
                inner.by_object.len()
            ));
        }
        if inner.mmap.len() != inner.offsets.len() {
            return Err("mmap offset maps disagree".into());
        }
        for (&offset, h) in &inner.mmap {
            if inner.offsets.get(h) != Some(&offset) || !inner.handles.contains_key(h) {
                return Err(format!("mmap offset {offset:#x} of handle {h} is stale"));
            }
            if offset % PAGE_SIZE != 0 || offset < MMAP_OFFSET_START {
                return Err(format!("mmap offset {offset:#x} misplaced"));
            }
        }
        Ok(())
    }
}

impl Drop for File {
    /// Closes the file (upstream `drm_release` → `drm_gem_release`): every handle is
    /// dropped, outside the table lock.
    fn drop(&mut self) {
        let handles: Vec<Arc<GemObject>> = {
            let inner = self.inner.get_mut();
            inner.by_object.clear();
            inner.mmap.clear();
            inner.offsets.clear();
            inner.handles.drain().map(|(_, o)| o).collect()
        };
        drop(handles);
    }
}

// Files, mappings and exports move between threads and are shared by them.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<File>();
    send_sync::<Mapping>();
    send_sync::<DmaBuf>();
    send_sync::<GemObject>();
};

// ---------------------------------------------------------------------------------
// Exports and mappings.

/// An exported object (PRIME-like, a dma-buf): holds a reference to the object until
/// dropped; [`File::import`] turns it into a handle in any file of the same device.
pub struct DmaBuf {
    obj: Arc<GemObject>,
}

impl fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaBuf").field("obj", &self.obj).finish()
    }
}

impl DmaBuf {
    /// Size of the exported object in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.obj.size()
    }
}

/// A CPU mapping of `len` bytes of an object starting at byte `start`: holds a
/// reference and keeps the object pinned in CPU-reachable memory until dropped.
pub struct Mapping {
    obj: Arc<GemObject>,
    start: u64,
    len: u64,
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("obj", &self.obj)
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl Mapping {
    fn new(obj: Arc<GemObject>, start: u64, len: u64) -> Result<Self> {
        obj.map_get()?;
        Ok(Self { obj, start, len })
    }

    /// Length of the mapping in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty mapping (never: mappings are at least one byte).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapped object.
    #[must_use]
    pub fn object(&self) -> &Arc<GemObject> {
        &self.obj
    }

    fn at(&self, offset: u64, len: usize) -> Result<u64> {
        let oob = Error::OutOfBounds {
            offset,
            len,
            size: self.len,
        };
        let n = u64::try_from(len).map_err(|_| Error::OutOfBounds {
            offset,
            len,
            size: self.len,
        })?;
        match offset.checked_add(n) {
            Some(end) if end <= self.len => Ok(self.start + offset),
            _ => Err(oob),
        }
    }

    /// Reads `buf.len()` bytes at `offset` in the mapping.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] (`EINVAL`) if the range leaves the mapping;
    /// [`Error::Device`] if the simulated memory refuses.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let at = self.at(offset, buf.len())?;
        Ok(self.obj.bo.cpu_read(at, buf)?)
    }

    /// Writes `data` at `offset` in the mapping.
    ///
    /// # Errors
    /// As [`Mapping::read`].
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<()> {
        let at = self.at(offset, data.len())?;
        Ok(self.obj.bo.cpu_write(at, data)?)
    }
}

impl Drop for Mapping {
    /// Unmaps: the last mapping drops the pin that held the object in place.
    fn drop(&mut self) {
        self.obj.map_put();
    }
}
