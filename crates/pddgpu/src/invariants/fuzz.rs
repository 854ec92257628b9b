//! Stateful fuzz drivers: turn arbitrary bytes into a sequence of operations on the
//! buddy allocator, the range allocator or the ioctl layer, run it against a simple
//! reference model, and check every invariant after every step.
//!
//! The same functions back the libFuzzer targets under `fuzz/` (coverage-guided,
//! unbounded) and the bounded proptest campaigns in `tests/rel_campaigns.rs` (random
//! bytes, a few seconds in `cargo test`). Inputs are decoded leniently: every byte
//! string is a valid program, and running out of bytes reads zeros, so the fuzzer's
//! mutations always reach the allocators, including with malformed arguments.

use std::collections::BTreeMap;
use std::sync::Arc;

use pddgpu_buddy::{AllocFlags, Block, BuddyAllocator, FreeFlags};
use pddgpu_mm::{InsertMode, Mm, Node};

use super::{check_device, Violation};
use crate::device::{Device, DeviceConfig};
use crate::gem::File;
use crate::hw::HwConfig;
use crate::mgr_common::RetryPolicy;
use crate::uapi::abi::{
    drm_gem_close, drm_pddgpu_gem_create, drm_pddgpu_gem_info, drm_pddgpu_gem_mmap,
    drm_pddgpu_gem_op, drm_pddgpu_info,
};
use crate::uapi::ioctl::{
    DRM_IOCTL_GEM_CLOSE, DRM_IOCTL_PDDGPU_GEM_CREATE, DRM_IOCTL_PDDGPU_GEM_INFO,
    DRM_IOCTL_PDDGPU_GEM_MMAP, DRM_IOCTL_PDDGPU_GEM_OP, DRM_IOCTL_PDDGPU_INFO,
};
use crate::uapi::{AbiBytes, Errno};

/// What a run executed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Operations executed.
    pub ops: u64,
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations refused with an error (each verified to change nothing).
    pub refused: u64,
}

impl RunStats {
    fn record(&mut self, ok: bool) {
        self.ops += 1;
        if ok {
            self.ok += 1;
        } else {
            self.refused += 1;
        }
    }
}

/// Reads the fuzz input as a stream of integers; zeros once exhausted.
#[derive(Debug)]
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u64_n(&mut self, n: usize) -> u64 {
        (0..n).fold(0, |acc, _| (acc << 8) | u64::from(self.u8()))
    }

    /// A value biased toward the edges: 0, 1, max, a power of two ± 1, or small.
    fn edgy(&mut self, scale: u64) -> u64 {
        match self.u8() % 8 {
            0 => 0,
            1 => u64::MAX,
            2 => 1u64 << (self.u8() % 64),
            3 => (1u64 << (self.u8() % 64)).wrapping_add(1),
            4 => (1u64 << (self.u8() % 64)).wrapping_sub(1),
            _ => self.u64_n(2).wrapping_mul(scale),
        }
    }
}

fn check_err<E: core::fmt::Display>(what: &str, r: Result<(), E>) -> Result<(), Violation> {
    r.map_err(|e| Violation(format!("{what}: {e}")))
}

// ---------------------------------------------------------------------------------
// Buddy allocator.

/// Runs `data` as operations on a buddy allocator (drm_buddy semantics): allocations
/// with arbitrary ranges, sizes, minimum block sizes and flags; frees with and
/// without the clear flag. The model is the set of live blocks: they must be
/// disjoint, inside the allocator (and inside the range for range allocations), and
/// `avail` must equal size minus their total; a refused call must leave `avail` as
/// it was. `check()` runs after every step; at the end everything is freed and the
/// allocator must be whole again.
///
/// # Errors
/// The first [`Violation`] found.
pub fn buddy_run(data: &[u8]) -> Result<RunStats, Violation> {
    let mut b = Bytes { data };
    const CHUNK: u64 = 4096;
    // 1..=4096 chunks, not necessarily a power of two (several roots).
    let size = (b.u64_n(2) % 4096 + 1) * CHUNK;
    let mut mm = BuddyAllocator::new(size, CHUNK)
        .map_err(|e| Violation(format!("buddy new({size}): {e:?}")))?;
    let mut live: Vec<Vec<Block>> = Vec::new();
    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let mut stats = RunStats::default();
    while !b.is_empty() {
        let before = mm.avail();
        if b.u8() % 3 != 0 || live.is_empty() {
            let flags = AllocFlags::from_bits_truncate(u32::from(b.u8()).into());
            // Mostly well-formed requests (so allocations succeed and the allocator
            // fills up), sometimes edge values in every argument.
            let (start, end, len, min) = if b.u8() % 4 == 0 {
                let start = b.edgy(CHUNK) % (size + 2 * CHUNK);
                (
                    start,
                    b.edgy(CHUNK),
                    b.edgy(CHUNK) % (size + CHUNK),
                    b.edgy(CHUNK),
                )
            } else {
                let start = (b.u64_n(2) % (size / CHUNK)) * CHUNK;
                let end = if flags.contains(AllocFlags::RANGE) {
                    (start + (b.u64_n(2) % 512 + 1) * CHUNK).min(size)
                } else {
                    size
                };
                let min = CHUNK << (b.u8() % 4);
                (start, end, (u64::from(b.u8() % 64) + 1) * min, min)
            };
            match mm.alloc_blocks(start, end, len, min, flags) {
                Ok(blocks) => {
                    let total: u64 = blocks.iter().map(Block::size).sum();
                    if total < len {
                        return Err(Violation(format!("buddy: {total} bytes for {len}")));
                    }
                    for blk in &blocks {
                        let (s, e) = (blk.offset(), blk.end());
                        if e > size || (flags.contains(AllocFlags::RANGE) && (s < start || e > end))
                        {
                            return Err(Violation(format!(
                                "buddy: block [{s:#x},{e:#x}) outside [{start:#x},{end:#x})"
                            )));
                        }
                        let prev = model.range(..e).next_back();
                        if prev.is_some_and(|(&ps, &pe)| pe > s && ps < e) {
                            return Err(Violation(format!("buddy: block {s:#x} overlaps")));
                        }
                        model.insert(s, e);
                    }
                    live.push(blocks);
                    stats.record(true);
                }
                Err(_) => {
                    if mm.avail() != before {
                        return Err(Violation("buddy: refused alloc changed avail".into()));
                    }
                    stats.record(false);
                }
            }
        } else {
            let i = usize::from(b.u8()) % live.len();
            let blocks = live.swap_remove(i);
            for blk in &blocks {
                model.remove(&blk.offset());
            }
            let flags = if b.u8() % 2 == 0 {
                FreeFlags::empty()
            } else {
                FreeFlags::CLEARED
            };
            mm.free_blocks(blocks, flags)
                .map_err(|e| Violation(format!("buddy: free of live blocks: {e:?}")))?;
            stats.record(true);
        }
        check_err("buddy check", mm.check())?;
        let used: u64 = model.iter().map(|(s, e)| e - s).sum();
        if mm.avail() != size - used {
            return Err(Violation(format!(
                "buddy: avail {} != {size} - {used}",
                mm.avail()
            )));
        }
    }
    for blocks in live {
        mm.free_blocks(blocks, FreeFlags::empty())
            .map_err(|e| Violation(format!("buddy: final free: {e:?}")))?;
    }
    check_err("buddy check", mm.check())?;
    if mm.avail() != size {
        return Err(Violation(
            "buddy: not whole after freeing everything".into(),
        ));
    }
    mm.fini()
        .map_err(|e| Violation(format!("buddy fini: {e:?}")))?;
    Ok(stats)
}

// ---------------------------------------------------------------------------------
// Range allocator.

/// Runs `data` as operations on a range allocator (drm_mm semantics): inserts with
/// arbitrary sizes, alignments, colours, ranges and modes, exact reservations, and
/// removals. Every node must lie in the managed range and in its requested range,
/// start aligned, disjoint from every other; a refused call must leave `used` as it
/// was; `check()` runs after every step and the allocator is clean at the end.
///
/// # Errors
/// The first [`Violation`] found.
pub fn mm_run(data: &[u8]) -> Result<RunStats, Violation> {
    let mut b = Bytes { data };
    let base = b.u64_n(2);
    let size = b.u64_n(2) % 65536 + 1;
    let mut mm = Mm::new(base, size).map_err(|e| Violation(format!("mm new: {e:?}")))?;
    let mut live: Vec<Node> = Vec::new();
    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let mut stats = RunStats::default();
    let modes = [
        InsertMode::Best,
        InsertMode::Low,
        InsertMode::High,
        InsertMode::Evict,
        InsertMode::Lowest,
        InsertMode::Highest,
    ];
    while !b.is_empty() {
        let before = mm.used();
        let op = b.u8() % 4;
        if op == 3 && !live.is_empty() {
            let node = live.swap_remove(usize::from(b.u8()) % live.len());
            model.remove(&node.start());
            mm.remove(node)
                .map_err(|e| Violation(format!("mm: remove of a live node: {e:?}")))?;
            stats.record(true);
        } else {
            let len = b.edgy(1) % (size + 2);
            let (res, lo, hi, align) = if op == 2 {
                let start = base.wrapping_add(b.edgy(1) % (size + 2));
                (mm.reserve(start, len, 0), start, u64::MAX, 0)
            } else {
                let align = b.edgy(1) % 4096;
                let lo = base.wrapping_add(b.edgy(1) % (size + 2));
                let hi = b.edgy(1);
                let mode = modes[usize::from(b.u8()) % modes.len()];
                let color = u64::from(b.u8() % 3);
                (
                    mm.insert_in_range(len, align, color, lo, hi, mode),
                    lo,
                    hi,
                    align,
                )
            };
            match res {
                Ok(node) => {
                    let (s, e) = (node.start(), node.end());
                    if s < base || e > base + size || s < lo || e > hi || node.size() != len {
                        return Err(Violation(format!(
                            "mm: node [{s},{e}) of {len} outside [{lo},{hi}) or the mm"
                        )));
                    }
                    if align > 1 && s % align != 0 {
                        return Err(Violation(format!("mm: node {s} not aligned to {align}")));
                    }
                    let prev = model.range(..e).next_back();
                    if prev.is_some_and(|(&ps, &pe)| pe > s && ps < e) {
                        return Err(Violation(format!("mm: node {s} overlaps")));
                    }
                    model.insert(s, e);
                    live.push(node);
                    stats.record(true);
                }
                Err(_) => {
                    if mm.used() != before {
                        return Err(Violation("mm: refused insert changed used".into()));
                    }
                    stats.record(false);
                }
            }
        }
        check_err("mm check", mm.check())?;
        let used: u64 = model.iter().map(|(s, e)| e - s).sum();
        if mm.used() != used || mm.n_nodes() != live.len() {
            return Err(Violation(format!("mm: used {} != model {used}", mm.used())));
        }
    }
    for node in live {
        mm.remove(node)
            .map_err(|e| Violation(format!("mm: final remove: {e:?}")))?;
    }
    mm.fini()
        .map_err(|e| Violation(format!("mm fini: {e:?}")))?;
    Ok(stats)
}

// ---------------------------------------------------------------------------------
// The ioctl layer.

/// A small device for ioctl runs: 8 MiB VRAM (2 MiB visible), 8 MiB GTT, no retry
/// sleeps.
///
/// # Errors
/// A [`Violation`] if the device cannot be built.
pub fn small_device() -> Result<Arc<Device>, Violation> {
    Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: 8 << 20,
            visible_vram_size: 2 << 20,
            gtt_size: 8 << 20,
            sys_mem_size: 32 << 20,
            page_size: 4096,
        },
        vram_retry: RetryPolicy::NONE,
        gtt_retry: RetryPolicy::NONE,
        ..DeviceConfig::default()
    })
    .map_err(|e| Violation(format!("device: {e}")))
}

fn encode<T: AbiBytes>(arg: &T) -> Vec<u8> {
    let mut buf = vec![0u8; T::SIZE];
    arg.write_prefix(&mut buf);
    buf
}

/// Errnos an ioctl may answer; anything else is a violation (`EPERM`: mmap of an
/// object created without CPU access).
const ALLOWED: [Errno; 8] = [
    Errno::PERM,
    Errno::INVAL,
    Errno::NOENT,
    Errno::NOSPC,
    Errno::NOMEM,
    Errno::FAULT,
    Errno::NOTTY,
    Errno::NODEV,
];

/// Runs `data` as ioctls from up to four files on a fresh [`small_device`]: creates,
/// closes, infos, mmaps, ops and queries with handles that are live, freed, foreign
/// or made up and fields biased to the edges, plus files opened and closed mid-run.
/// The model is each file's handle set: a successful create adds the returned
/// handle, a successful close removes it, nothing else changes it, and a refused
/// ioctl must leave the file's handles, the device usage and the live BO count as
/// they were. [`check_device`] runs after every step; once every file is closed the
/// device must be empty and its leak report clean.
///
/// # Errors
/// The first [`Violation`] found.
pub fn ioctl_run(data: &[u8]) -> Result<RunStats, Violation> {
    let dev = small_device()?;
    let mut b = Bytes { data };
    let mut files: Vec<(File, Vec<u32>)> = Vec::new();
    let mut stats = RunStats::default();
    while !b.is_empty() {
        let sel = b.u8();
        if files.is_empty() || (sel % 16 == 0 && files.len() < 4) {
            let f = File::open(&dev).map_err(|e| Violation(format!("open: {e}")))?;
            files.push((f, Vec::new()));
            continue;
        }
        if sel % 16 == 1 {
            let i = usize::from(b.u8()) % files.len();
            drop(files.swap_remove(i));
            continue;
        }
        let fi = usize::from(b.u8()) % files.len();
        // A handle: one of this file's, another file's, or made up.
        let handle = {
            let pick = b.u8();
            let pool: Vec<u32> = files.iter().flat_map(|(_, h)| h.iter().copied()).collect();
            match pick % 4 {
                0 | 1 if !pool.is_empty() => pool[usize::from(b.u8()) % pool.len()],
                _ => b.edgy(1) as u32,
            }
        };
        let (req, mut arg) = match sel % 7 {
            0 | 1 => {
                let domain = match b.u8() % 4 {
                    0 => b.edgy(1) as u32,
                    1 => 1 << 1,
                    2 => 1 << 2,
                    _ => 0x6,
                };
                let size = match b.u8() % 3 {
                    0 => b.edgy(4096),
                    _ => u64::from(b.u8() % 64 + 1) * 4096,
                };
                let alignment = if b.u8() % 2 == 0 { 0 } else { b.edgy(1) };
                let flags = if b.u8() % 2 == 0 { 0 } else { b.edgy(1) };
                let arg = drm_pddgpu_gem_create {
                    size,
                    alignment,
                    domain,
                    handle: 0,
                    flags,
                };
                (DRM_IOCTL_PDDGPU_GEM_CREATE, encode(&arg))
            }
            2 => {
                let pad = if b.u8() % 8 == 0 { 1 } else { 0 };
                (DRM_IOCTL_GEM_CLOSE, encode(&drm_gem_close { handle, pad }))
            }
            3 => {
                let arg = drm_pddgpu_gem_info {
                    handle,
                    ..Default::default()
                };
                (DRM_IOCTL_PDDGPU_GEM_INFO, encode(&arg))
            }
            4 => {
                let arg = drm_pddgpu_gem_mmap {
                    handle,
                    pad: 0,
                    offset: 0,
                };
                (DRM_IOCTL_PDDGPU_GEM_MMAP, encode(&arg))
            }
            5 => {
                let arg = drm_pddgpu_gem_op {
                    handle,
                    op: u32::from(b.u8() % 5),
                    value: if b.u8() % 2 == 0 { 0x2 } else { b.edgy(1) },
                };
                (DRM_IOCTL_PDDGPU_GEM_OP, encode(&arg))
            }
            _ => {
                let arg = drm_pddgpu_info {
                    query: u32::from(b.u8() % 3),
                    ..Default::default()
                };
                (DRM_IOCTL_PDDGPU_INFO, encode(&arg))
            }
        };
        // Sometimes truncate the argument (EFAULT) or corrupt the size/direction bits
        // of the request code (the number stays, so the model knows what ran).
        let mut request = u64::from(req);
        match b.u8() % 16 {
            0 => arg.truncate(usize::from(b.u8()) % arg.len().max(1)),
            1 => request ^= 1u64 << (16 + b.u8() % 16),
            _ => {}
        }
        let (file, handles) = &mut files[fi];
        let before = (dev.mem_info(), dev.live_bos(), file.handles());
        let r = file.ioctl(request, &mut arg);
        match r {
            Ok(()) if req == DRM_IOCTL_PDDGPU_GEM_CREATE => {
                // The new handle is the one the table gained; an intact request also
                // copied it back.
                let new: Vec<u32> = file
                    .handles()
                    .iter()
                    .map(|h| h.get())
                    .filter(|h| !handles.contains(h))
                    .collect();
                let [h] = new[..] else {
                    return Err(Violation(format!("create added handles {new:?}")));
                };
                let copied = drm_pddgpu_gem_create::read_prefix(&arg).handle;
                if request == u64::from(req) && copied != h {
                    return Err(Violation(format!(
                        "create returned {copied}, table has {h}"
                    )));
                }
                handles.push(h);
            }
            Ok(()) if req == DRM_IOCTL_GEM_CLOSE => {
                handles.retain(|&x| x != handle);
            }
            Ok(()) => {}
            Err(e) => {
                if !ALLOWED.contains(&e) {
                    return Err(Violation(format!("ioctl {request:#x}: unexpected {e:?}")));
                }
                let after = (dev.mem_info(), dev.live_bos(), file.handles());
                if after != before {
                    return Err(Violation(format!(
                        "ioctl {request:#x} refused with {e:?} but changed state"
                    )));
                }
            }
        }
        stats.record(r.is_ok());
        let mut model: Vec<u32> = handles.clone();
        model.sort_unstable();
        let mut real: Vec<u32> = file.handles().iter().map(|h| h.get()).collect();
        real.sort_unstable();
        if model != real {
            return Err(Violation(format!("handles {real:?}, model {model:?}")));
        }
        let refs: Vec<&File> = files.iter().map(|(f, _)| f).collect();
        check_device(&dev, &refs)?;
    }
    drop(files);
    dev.delayed_delete(false);
    let s = check_device(&dev, &[])?;
    if s.bos != 0 || !dev.leak_report().is_empty() {
        return Err(Violation(format!("leak after all files closed: {s:?}")));
    }
    Ok(stats)
}
