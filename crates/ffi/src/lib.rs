//! The C ABI of PDDGPU: what `include/pddgpu.h` declares.
//!
//! # Overview
//!
//! C programs drive a simulated PDDGPU device the way they drive a DRM device:
//!
//! - [`pddgpu_open`] creates a device from a [`pddgpu_config`] and opens its first
//!   client, returning a small non-negative fd-like integer; [`pddgpu_open_file`] opens
//!   another client of the same device (a second `open("/dev/dri/renderD128")`);
//!   [`pddgpu_close`] closes one. Each fd is a [`pddgpu::File`] with its own handles;
//!   the device lives until its last fd and mapping are gone.
//! - [`pddgpu_ioctl`] has libdrm's `drmIoctl` contract: 0 on success, -1 and `errno` on
//!   failure, restarted on `EINTR`/`EAGAIN`. Defining `PDDGPU_DRMIOCTL_ALIAS` before
//!   including `pddgpu.h` makes `drmIoctl` an alias, so code written for libdrm runs
//!   unchanged.
//! - [`pddgpu_mmap`] maps an object by its `GEM_MMAP` offset, [`pddgpu_msync`] and
//!   [`pddgpu_munmap`] write it back.
//!
//! # Coherency of mappings
//!
//! The simulated device memory is not host memory, so a mapping is a host buffer (page
//! aligned, zero-initialised then filled):
//!
//! 1. `pddgpu_mmap` pins the object where the CPU reaches it (moving it into visible
//!    VRAM or GTT first, as a page fault would) and copies the mapped range into the
//!    buffer;
//! 2. the program reads and writes the buffer; nothing reaches the object yet;
//! 3. `pddgpu_msync` copies the whole buffer back to the object; `pddgpu_munmap` copies
//!    it back, drops the pin and frees the buffer.
//!
//! While mapped, the object is never moved (eviction skips it; a `GEM_OP` pin in another
//! domain fails with `EINVAL`). Changes made to the object by other means (another
//! mapping, the device) are not seen by an existing buffer, and the buffer's write-back
//! overwrites them: as with `MAP_PRIVATE` followed by an explicit copy back.
//!
//! # Safety at the boundary
//!
//! Every entry point catches panics (`catch_unwind`): nothing unwinds into C; a panic
//! answers -1 with `EIO`. Pointers are checked for null before use; argument structures
//! are copied byte-wise, so they need no particular alignment. The fd table and the
//! mapping table are process-wide, behind mutexes; every entry point is thread safe.

use std::alloc::{self, Layout};
use std::collections::HashMap;
use std::ffi::{c_int, c_ulong, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use errno::{set_errno, Errno as CErrno};
use parking_lot::Mutex;
use pddgpu::hw::HwConfig;
use pddgpu::uapi::{Errno, Ioctl};
use pddgpu::{Device, DeviceConfig, File, Mapping};

/// Host page size of mapping buffers (and the uapi page size).
const PAGE: usize = 4096;

/// `PDDGPU_CONFIG_PROPAGATE_ENOSPC`: report a placement that fails even after eviction
/// as `ENOSPC` instead of upstream's `ENOMEM`.
pub const PDDGPU_CONFIG_PROPAGATE_ENOSPC: u32 = 1 << 0;

/// `struct pddgpu_config`: the simulated device's sizes. Zero fields take the defaults
/// (VRAM 4 GiB, visible window 256 MiB or all of a smaller VRAM, GTT 8 GiB, system
/// memory 16 GiB); `pad` must be 0.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)] // the C name, so a grep finds both definitions
pub struct pddgpu_config {
    /// VRAM bytes (multiple of 4 KiB); 0 = 4 GiB.
    pub vram_size: u64,
    /// CPU-visible VRAM bytes; 0 = min(256 MiB, `vram_size`).
    pub visible_vram_size: u64,
    /// GTT (GART aperture) bytes; 0 = 8 GiB.
    pub gtt_size: u64,
    /// Simulated system memory bytes; 0 = 16 GiB.
    pub sys_mem_size: u64,
    /// `PDDGPU_CONFIG_*` flags.
    pub flags: u32,
    /// Must be 0.
    pub pad: u32,
}

// The layout `pddgpu.h` declares (its C side asserts the same numbers).
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<pddgpu_config>() == 40);
    assert!(align_of::<pddgpu_config>() == align_of::<u64>());
    assert!(offset_of!(pddgpu_config, vram_size) == 0);
    assert!(offset_of!(pddgpu_config, visible_vram_size) == 8);
    assert!(offset_of!(pddgpu_config, gtt_size) == 16);
    assert!(offset_of!(pddgpu_config, sys_mem_size) == 24);
    assert!(offset_of!(pddgpu_config, flags) == 32);
    assert!(offset_of!(pddgpu_config, pad) == 36);
};

impl pddgpu_config {
    /// The device configuration this C configuration asks for.
    ///
    /// # Errors
    /// `EINVAL` for a non-zero pad or unknown flag bits.
    pub fn to_device_config(&self) -> Result<DeviceConfig, Errno> {
        if self.pad != 0 || self.flags & !PDDGPU_CONFIG_PROPAGATE_ENOSPC != 0 {
            return Err(Errno::INVAL);
        }
        let mut hw = HwConfig::default();
        let or = |v: u64, d: u64| if v == 0 { d } else { v };
        hw.vram_size = or(self.vram_size, hw.vram_size);
        hw.visible_vram_size = or(
            self.visible_vram_size,
            hw.visible_vram_size.min(hw.vram_size),
        );
        hw.gtt_size = or(self.gtt_size, hw.gtt_size);
        hw.sys_mem_size = or(self.sys_mem_size, hw.sys_mem_size);
        Ok(DeviceConfig {
            hw,
            propagate_enospc: self.flags & PDDGPU_CONFIG_PROPAGATE_ENOSPC != 0,
            ..DeviceConfig::default()
        })
    }
}

// ---------------------------------------------------------------------------------
// Process-wide tables.

/// Open fds: index = fd. A closed fd's slot is reused by the next open, lowest first,
/// as POSIX fds are.
static FILES: Mutex<Vec<Option<Arc<File>>>> = Mutex::new(Vec::new());

/// Live mappings by buffer address.
static MAPS: Mutex<Option<HashMap<usize, HostMap>>> = Mutex::new(None);

/// A host buffer of a mapping.
///
/// # Invariants
/// `ptr` was returned by `alloc::alloc_zeroed(layout)` and is freed only by `Drop`;
/// `len <= layout.size()`.
struct HostBuf {
    ptr: NonNull<u8>,
    layout: Layout,
    len: usize,
}

// SAFETY: the buffer is plain bytes owned by this value alone (the C side borrows it
// between mmap and munmap, under the documented contract); nothing in it is tied to a
// thread.
unsafe impl Send for HostBuf {}

impl HostBuf {
    /// A zeroed, page-aligned buffer of `len` bytes rounded up to pages.
    fn new(len: usize) -> Result<Self, Errno> {
        let size = len.checked_next_multiple_of(PAGE).ok_or(Errno::NOMEM)?;
        let layout = Layout::from_size_align(size, PAGE).map_err(|_| Errno::NOMEM)?;
        // SAFETY: `layout` has a non-zero size (`len` > 0 is checked by the caller and
        // rounding up keeps it non-zero).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or(Errno::NOMEM)?;
        // INVARIANT: allocated with `layout`; `len <= size`.
        Ok(Self { ptr, layout, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised bytes (zeroed at allocation) for
        // as long as `self` lives; C writes to it only between calls, never during one
        // (the mapping contract), so no write races this shared borrow.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and `&mut self` makes this the only Rust borrow.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for HostBuf {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `ptr` came from `alloc_zeroed(layout)` and has
        // not been freed.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// One live `pddgpu_mmap`.
struct HostMap {
    buf: HostBuf,
    mapping: Mapping,
}

impl HostMap {
    /// Copies the buffer back into the object.
    fn write_back(&self) -> Result<(), Errno> {
        self.mapping
            .write(0, self.buf.bytes())
            .map_err(|e| errno_of_gem(self.mapping.object().bo().device(), &e))
    }
}

/// The errno a client of `dev` sees for a GEM error.
fn errno_of_gem(dev: &Device, e: &pddgpu::gem::Error) -> Errno {
    e.errno_with(dev.config().propagate_enospc)
}

fn file(fd: c_int) -> Result<Arc<File>, Errno> {
    let idx = usize::try_from(fd).map_err(|_| Errno::BADF)?;
    FILES
        .lock()
        .get(idx)
        .and_then(Option::clone)
        .ok_or(Errno::BADF)
}

fn install(f: File) -> Result<c_int, Errno> {
    let mut files = FILES.lock();
    let idx = match files.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            files.push(None);
            files.len() - 1
        }
    };
    let fd = c_int::try_from(idx).map_err(|_| Errno::MFILE)?;
    files[idx] = Some(Arc::new(f));
    Ok(fd)
}

/// Runs an entry point: panics and errors become -1 (or `fail`) with `errno` set.
fn boundary<T>(fail: T, f: impl FnOnce() -> Result<T, Errno>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(CErrno(e.raw_os_error()));
            fail
        }
        Err(_) => {
            set_errno(CErrno(Errno::IO.raw_os_error()));
            fail
        }
    }
}

// ---------------------------------------------------------------------------------
// Entry points.

/// `int pddgpu_open(const struct pddgpu_config *cfg)`: creates a device and opens its
/// first client. `cfg` NULL = all defaults.
///
/// Returns the fd, or -1 with `errno`: `EINVAL` (bad configuration), `ENOMEM`.
///
/// # Safety
/// `cfg` is NULL or points to a readable `struct pddgpu_config` (no alignment needed).
#[no_mangle]
pub unsafe extern "C" fn pddgpu_open(cfg: *const pddgpu_config) -> c_int {
    boundary(-1, || {
        let c = if cfg.is_null() {
            pddgpu_config::default()
        } else {
            // SAFETY: non-null and readable by the caller's contract; read_unaligned
            // needs no alignment.
            unsafe { cfg.read_unaligned() }
        };
        let dev =
            Device::new(c.to_device_config()?).map_err(|e| Errno::from_raw_os_error(e.errno()))?;
        let f = File::open(&dev).map_err(|e| errno_of_gem(&dev, &e))?;
        install(f)
    })
}

/// `int pddgpu_open_file(int fd)`: opens another client of the device of `fd`, with
/// its own (empty) handle table.
///
/// Returns the new fd, or -1 with `errno` `EBADF` (unknown fd) or `ENODEV` (device
/// shut down).
#[no_mangle]
pub extern "C" fn pddgpu_open_file(fd: c_int) -> c_int {
    boundary(-1, || {
        let dev = Arc::clone(file(fd)?.device());
        let f = File::open(&dev).map_err(|e| errno_of_gem(&dev, &e))?;
        install(f)
    })
}

/// `int pddgpu_close(int fd)`: closes a client; its handles are dropped (objects still
/// mapped stay alive until unmapped).
///
/// Returns 0, or -1 with `errno` `EBADF`.
#[no_mangle]
pub extern "C" fn pddgpu_close(fd: c_int) -> c_int {
    boundary(-1, || {
        let idx = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        let f = FILES
            .lock()
            .get_mut(idx)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        // The file (and maybe the device) is released here, outside the table lock.
        drop(f);
        Ok(0)
    })
}

/// `int pddgpu_ioctl(int fd, unsigned long request, void *arg)`: libdrm's `drmIoctl`.
///
/// Returns 0, or -1 with `errno`: `EBADF` (unknown fd), `EFAULT` (`arg` NULL for a
/// request with an argument), and the ioctl's errors (see `crates/ffi/README.md`).
///
/// # Safety
/// `arg` is NULL or points to `_IOC_SIZE(request)` readable and writable bytes, not
/// accessed by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn pddgpu_ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    boundary(-1, || {
        let f = file(fd)?;
        // `unsigned long` is 32 bits on some targets: widen where it is not already.
        #[allow(clippy::useless_conversion)]
        let request = u64::from(request);
        let low = u32::try_from(request & u64::from(u32::MAX)).unwrap_or(u32::MAX);
        let cmd = Ioctl::decode(low).map_err(|e| e.errno())?;
        let len = cmd.copy_in.max(cmd.copy_out);
        let mut local = vec![0u8; len];
        if len > 0 {
            if arg.is_null() {
                return Err(Errno::FAULT);
            }
            // SAFETY: `arg` is non-null and the caller provides `_IOC_SIZE(request)`
            // readable bytes, at least `copy_in`; `local` is a distinct allocation.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    arg.cast::<u8>().cast_const(),
                    local.as_mut_ptr(),
                    cmd.copy_in,
                );
            }
        }
        // drmIoctl restarts on EINTR and EAGAIN.
        loop {
            match f.ioctl(request, &mut local) {
                Err(e) if e == Errno::INTR || e == Errno::AGAIN => continue,
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        if cmd.copy_out > 0 {
            // SAFETY: `arg` is non-null (checked above, `len > 0`) and writable for
            // `_IOC_SIZE(request)` bytes, at least `copy_out <= local.len()`.
            unsafe {
                core::ptr::copy_nonoverlapping(local.as_ptr(), arg.cast::<u8>(), cmd.copy_out);
            }
        }
        Ok(0)
    })
}

/// `void *pddgpu_mmap(int fd, uint64_t offset, size_t length)`: maps `length` bytes of
/// the object whose `GEM_MMAP` offset range holds `offset` (page aligned within the
/// object). See the coherency model in the crate documentation.
///
/// Returns the page-aligned buffer, or `PDDGPU_MAP_FAILED` (`(void *)-1`) with `errno`:
/// `EBADF`, `EINVAL` (length 0, offset not from `GEM_MMAP` on this fd, range outside the
/// object), `EPERM` (`NO_CPU_ACCESS` object), `ENOMEM`, `EBUSY`.
#[no_mangle]
pub extern "C" fn pddgpu_mmap(fd: c_int, offset: u64, length: usize) -> *mut c_void {
    let failed = usize::MAX as *mut c_void;
    boundary(failed, || {
        let f = file(fd)?;
        if length == 0 {
            return Err(Errno::INVAL);
        }
        let len64 = u64::try_from(length).map_err(|_| Errno::INVAL)?;
        let mapping = f.map_offset(offset, len64).map_err(|e| f.errno(&e))?;
        let mut buf = HostBuf::new(length)?;
        mapping.read(0, buf.bytes_mut()).map_err(|e| f.errno(&e))?;
        let ptr = buf.ptr.as_ptr();
        MAPS.lock()
            .get_or_insert_with(HashMap::new)
            .insert(ptr as usize, HostMap { buf, mapping });
        Ok(ptr.cast::<c_void>())
    })
}

/// Looks up the mapping at `ptr`, checking that `length` is its length.
fn with_map<T>(
    ptr: *mut c_void,
    length: usize,
    remove: bool,
    f: impl FnOnce(&HostMap) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let key = ptr as usize;
    let mut maps = MAPS.lock();
    let table = maps.get_or_insert_with(HashMap::new);
    match table.get(&key) {
        Some(m) if m.buf.len == length => {}
        _ => return Err(Errno::INVAL),
    }
    if remove {
        let m = table.remove(&key).ok_or(Errno::INVAL)?;
        drop(maps);
        // Written back and released outside the table lock.
        f(&m)
    } else {
        let m = table.get(&key).ok_or(Errno::INVAL)?;
        f(m)
    }
}

/// `int pddgpu_msync(void *ptr, size_t length)`: copies a mapping's buffer back into
/// its object.
///
/// Returns 0, or -1 with `errno` `EINVAL` (`ptr`, `length` not a live mapping).
#[no_mangle]
pub extern "C" fn pddgpu_msync(ptr: *mut c_void, length: usize) -> c_int {
    boundary(-1, || {
        with_map(ptr, length, false, HostMap::write_back).map(|()| 0)
    })
}

/// `int pddgpu_munmap(void *ptr, size_t length)`: copies a mapping's buffer back into
/// its object, unpins the object (if this was its last mapping) and frees the buffer.
///
/// Returns 0, or -1 with `errno` `EINVAL` (`ptr`, `length` not a live mapping, which is
/// then left alone) or the write-back's error (the mapping is released anyway).
#[no_mangle]
pub extern "C" fn pddgpu_munmap(ptr: *mut c_void, length: usize) -> c_int {
    boundary(-1, || {
        with_map(ptr, length, true, HostMap::write_back).map(|()| 0)
    })
}

/// `size_t pddgpu_config_size(void)`: `sizeof(struct pddgpu_config)` as the library
/// sees it, for a C program to check its header against.
#[no_mangle]
pub extern "C" fn pddgpu_config_size() -> usize {
    core::mem::size_of::<pddgpu_config>()
}
