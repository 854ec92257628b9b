//! The copy engine: copies and fills between device addresses, as TTM moves use it.
//!
//! A job names device addresses ([`DevAddr`]): VRAM offsets directly, GART byte offsets
//! through the GART page table. Every job runs in three steps:
//! 1. **resolve** both ranges to physical segments (VRAM bytes or system pages), checking
//!    bounds, GART entries and that every system page is allocated — a fault here fails the
//!    job before a single byte moves;
//! 2. **inject** (test-only `fault-injection` feature): a failure armed with
//!    `CopyEngine::fail_next_copies` or `CopyEngine::fail_one_in` fails the job, again
//!    before any byte moves;
//! 3. **execute** page piece by page piece through a one-page bounce buffer, holding one
//!    store shard lock per piece and never a lock across the whole transfer.
//!
//! Resolving snapshots the GART: like a real engine that has loaded its PTEs, a job keeps
//! using the pages it resolved even if the range is unbound meanwhile. Overlapping source
//! and destination (including through GART aliases) behave as `memmove`.
//!
//! Uncommitted (never written) source pages are copied as zero fills, so copying fresh
//! memory commits nothing at the destination.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{HwError, Result};
use super::store::PageStore;
use super::sysmem::{DmaAddr, DMA_BASE};
use super::vram::{fill_range, len_u64};
use super::SimHw;

/// A device address: where the copy engine reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DevAddr {
    /// Byte offset into VRAM, `[0, vram_size)`.
    Vram(u64),
    /// Byte offset into the GART aperture, `[0, gtt_size)`; reaches the system page bound
    /// at GART page `offset / page_size`.
    Gart(u64),
}

/// Counters of the copy engine. Exact when no job is in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Copy and fill jobs that completed.
    pub jobs: u64,
    /// Bytes moved by completed copy jobs.
    pub bytes_copied: u64,
    /// Bytes written by completed fill jobs.
    pub bytes_filled: u64,
    /// Jobs that failed (faults and injected failures).
    pub failed_jobs: u64,
    /// Of `failed_jobs`, those failed by fault injection.
    pub injected_failures: u64,
}

/// Job accounting and fault injection of the copy engine (the data path is
/// [`SimHw::copy`] and [`SimHw::fill`]).
///
/// # Synchronization
/// Atomics only; any thread may arm injection while jobs run on others.
#[derive(Debug, Default)]
pub struct CopyEngine {
    jobs: AtomicU64,
    bytes_copied: AtomicU64,
    bytes_filled: AtomicU64,
    failed_jobs: AtomicU64,
    injected_failures: AtomicU64,
    /// Jobs still to fail deterministically.
    #[cfg(feature = "fault-injection")]
    fail_next: AtomicU64,
    /// Fail a job with probability `1 / fail_one_in` (0 = never).
    #[cfg(feature = "fault-injection")]
    fail_one_in: AtomicU64,
    /// splitmix64 state of the random failures.
    #[cfg(feature = "fault-injection")]
    rng: AtomicU64,
}

/// splitmix64 increment.
#[cfg(feature = "fault-injection")]
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl CopyEngine {
    /// Makes the next `n` copy or fill jobs fail with [`HwError::CopyFailed`] (replacing
    /// any count still armed; 0 disarms). Jobs rejected for bad arguments or faults do not
    /// consume the count. Test-only (`fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    pub fn fail_next_copies(&self, n: u64) {
        self.fail_next.store(n, Ordering::Relaxed);
    }

    /// Makes each job fail with probability `1 / one_in`, drawn from a splitmix64 stream
    /// seeded with `seed` (the sequence of decisions is reproducible for a given order of
    /// jobs). `one_in == 0` disables random failures. Test-only (`fault-injection`
    /// feature).
    #[cfg(feature = "fault-injection")]
    pub fn fail_one_in(&self, one_in: u64, seed: u64) {
        self.rng.store(seed, Ordering::Relaxed);
        self.fail_one_in.store(one_in, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> CopyStats {
        CopyStats {
            jobs: self.jobs.load(Ordering::Relaxed),
            bytes_copied: self.bytes_copied.load(Ordering::Relaxed),
            bytes_filled: self.bytes_filled.load(Ordering::Relaxed),
            failed_jobs: self.failed_jobs.load(Ordering::Relaxed),
            injected_failures: self.injected_failures.load(Ordering::Relaxed),
        }
    }

    /// Decides whether an injected failure hits this job: never without the
    /// `fault-injection` feature.
    #[cfg(not(feature = "fault-injection"))]
    #[allow(clippy::unused_self)]
    fn inject(&self) -> bool {
        false
    }

    /// Decides whether an injected failure hits this job.
    #[cfg(feature = "fault-injection")]
    fn inject(&self) -> bool {
        let armed = self
            .fail_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if armed {
            return true;
        }
        let one_in = self.fail_one_in.load(Ordering::Relaxed);
        if one_in == 0 {
            return false;
        }
        let mut z = self
            .rng
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % one_in == 0
    }

    fn fail(&self, e: HwError) -> HwError {
        self.failed_jobs.fetch_add(1, Ordering::Relaxed);
        e
    }
}

/// The physical memory a segment lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Space {
    /// VRAM; offsets are VRAM offsets.
    Vram,
    /// System memory; offsets are relative to [`DMA_BASE`].
    Sys,
}

/// A physically contiguous piece of a resolved device range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) space: Space,
    pub(super) start: u64,
    pub(super) len: u64,
}

impl SimHw {
    fn space_store(&self, space: Space) -> &PageStore {
        match space {
            Space::Vram => self.vram.store(),
            Space::Sys => self.sysmem.store(),
        }
    }

    fn space_fault(&self, space: Space, page: u64) -> HwError {
        match space {
            Space::Vram => HwError::VramOutOfRange {
                offset: page << self.page_shift,
                len: 1 << self.page_shift,
                vram_size: self.vram.size(),
            },
            Space::Sys => HwError::DmaFault {
                dma_addr: DMA_BASE + (page << self.page_shift),
            },
        }
    }

    /// Resolves `[addr, addr + len)` to physical segments, checking everything a device
    /// access needs: bounds, valid GART entries, allocated system pages.
    fn resolve(&self, addr: DevAddr, len: u64) -> Result<Vec<Segment>> {
        match addr {
            DevAddr::Vram(offset) => {
                match offset.checked_add(len) {
                    Some(end) if end <= self.vram.size() => {}
                    _ => {
                        return Err(HwError::VramOutOfRange {
                            offset,
                            len,
                            vram_size: self.vram.size(),
                        })
                    }
                }
                Ok(vec![Segment {
                    space: Space::Vram,
                    start: offset,
                    len,
                }])
            }
            DevAddr::Gart(offset) => self.resolve_gart(offset, len),
        }
    }

    fn resolve_gart(&self, offset: u64, len: u64) -> Result<Vec<Segment>> {
        let page_size = self.gart.page_size();
        let first_page = offset / page_size;
        let aperture = self.gart.num_entries() * page_size;
        match offset.checked_add(len) {
            Some(end) if end <= aperture => {}
            _ => {
                return Err(HwError::GartOutOfRange {
                    first_page,
                    count: pages_spanned(offset, len, page_size),
                    num_entries: self.gart.num_entries(),
                })
            }
        }
        let mut segs: Vec<Segment> = Vec::new();
        let mut pos = offset;
        let end = offset + len;
        while pos < end {
            let gart_page = pos / page_size;
            let in_page = pos % page_size;
            let piece = (page_size - in_page).min(end - pos);
            let dma = self.gart.translate(gart_page)?;
            let page = self
                .sysmem
                .page_index(dma)
                .filter(|&p| self.sysmem.store().is_present(p))
                .ok_or(HwError::DmaFault {
                    dma_addr: dma.get(),
                })?;
            let start = (page << self.page_shift) + in_page;
            match segs.last_mut() {
                Some(last) if last.start + last.len == start => last.len += piece,
                _ => segs.push(Segment {
                    space: Space::Sys,
                    start,
                    len: piece,
                }),
            }
            pos += piece;
        }
        Ok(segs)
    }

    /// True if some source byte is also a destination byte.
    ///
    /// Source segments may overlap each other (GART aliases), so each destination segment is
    /// tested against the largest end among the source segments that start before it ends.
    ///
    /// # Complexity
    /// O((src + dst) log src).
    pub(super) fn overlaps(src: &[Segment], dst: &[Segment]) -> bool {
        let mut sorted: Vec<_> = src.iter().map(|s| (s.space, s.start, s.len)).collect();
        sorted.sort_unstable();
        // max_end[i]: largest end among sorted[..=i] in the space of sorted[i].
        let mut max_end = Vec::with_capacity(sorted.len());
        let mut prev: Option<(Space, u64)> = None;
        for &(space, start, len) in &sorted {
            let end = start + len;
            let m = match prev {
                Some((sp, m)) if sp == space => m.max(end),
                _ => end,
            };
            prev = Some((space, m));
            max_end.push(m);
        }
        dst.iter().any(|d| {
            let idx = sorted.partition_point(|&(sp, st, _)| (sp, st) < (d.space, d.start + d.len));
            idx.checked_sub(1)
                .is_some_and(|i| sorted[i].0 == d.space && max_end[i] > d.start)
        })
    }

    /// Reads `buf.len()` bytes of segment-space memory at `(space, start)`, which lie in one
    /// page. Returns whether they came from committed memory.
    fn read_piece(&self, space: Space, start: u64, buf: &mut [u8]) -> Result<bool> {
        let page = start >> self.page_shift;
        let off = in_page(start, self.page_shift);
        self.space_store(space)
            .read(page, off, buf)
            .map_err(|e| self.space_fault(space, e.0))
    }

    /// Writes `data` (or zeros, if `data` is `None`) at `(space, start)`, within one page.
    fn write_piece(&self, space: Space, start: u64, len: usize, data: Option<&[u8]>) -> Result<()> {
        let page = start >> self.page_shift;
        let off = in_page(start, self.page_shift);
        let store = self.space_store(space);
        match data {
            Some(d) => store.write(page, off, d),
            None => store.fill(page, off, len, 0),
        }
        .map_err(|e| self.space_fault(space, e.0))
    }

    /// Walks two segment lists of equal total length in pieces that stay within one
    /// page on both sides, calling `f(src_space, src_start, dst_space, dst_start, len)`.
    fn walk(
        &self,
        src: &[Segment],
        dst: &[Segment],
        mut f: impl FnMut(Space, u64, Space, u64, usize) -> Result<()>,
    ) -> Result<()> {
        let page_size = 1u64 << self.page_shift;
        let (mut si, mut so, mut di, mut doff) = (0, 0, 0, 0);
        while let (Some(s), Some(d)) = (src.get(si), dst.get(di)) {
            let sa = s.start + so;
            let da = d.start + doff;
            let n = (s.len - so)
                .min(d.len - doff)
                .min(page_size - sa % page_size)
                .min(page_size - da % page_size);
            // Lossless: n <= page_size <= 64 KiB.
            f(s.space, sa, d.space, da, n as usize)?;
            so += n;
            doff += n;
            if so == s.len {
                si += 1;
                so = 0;
            }
            if doff == d.len {
                di += 1;
                doff = 0;
            }
        }
        Ok(())
    }

    /// Copies `len` bytes from `src` to `dst` with the copy engine (what TTM moves use).
    ///
    /// Both ranges are resolved and checked before any byte moves; then an armed injected
    /// failure may fail the job; then the bytes move piece by piece. Overlapping ranges
    /// behave as `memmove`. A zero `len` is a completed empty job.
    ///
    /// # Errors
    /// The job fails with nothing written:
    /// - [`HwError::VramOutOfRange`] / [`HwError::GartOutOfRange`] for a range outside its
    ///   aperture (or overflowing);
    /// - [`HwError::GartFault`] for the first GART page of either range with no valid entry;
    /// - [`HwError::DmaFault`] for a GART entry pointing at a page that is not allocated;
    /// - [`HwError::CopyFailed`] for an injected failure;
    /// - [`HwError::InvalidArgument`] for overlapping ranges whose staging buffer cannot be
    ///   allocated on this host.
    ///
    /// Only if pages are freed *while* the job runs (a driver bug) can it stop half way
    /// with [`HwError::DmaFault`], the bytes before the faulting page written.
    ///
    /// # Complexity
    /// O(len / page_size) pieces, each one `memcpy` under one shard lock.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::{DevAddr, HwConfig, SimHw};
    /// let hw = SimHw::new(HwConfig::default())?;
    /// let page = hw.sysmem().alloc_pages(0)?;
    /// hw.gart().bind(0, &[page])?;
    /// hw.vram().dev_write(0x10_0000, b"hello")?;
    /// hw.copy(DevAddr::Vram(0x10_0000), DevAddr::Gart(3), 5)?;
    /// let mut got = [0u8; 5];
    /// hw.sysmem().read(page.checked_add(3).unwrap(), &mut got)?;
    /// assert_eq!(&got, b"hello");
    /// assert_eq!(hw.copy_engine().stats().bytes_copied, 5);
    /// # Ok::<(), pddgpu::hw::HwError>(())
    /// ```
    pub fn copy(&self, src: DevAddr, dst: DevAddr, len: u64) -> Result<()> {
        let ce = &self.copy;
        let src_segs = self.resolve(src, len).map_err(|e| ce.fail(e))?;
        let dst_segs = self.resolve(dst, len).map_err(|e| ce.fail(e))?;
        if ce.inject() {
            ce.injected_failures.fetch_add(1, Ordering::Relaxed);
            return Err(ce.fail(HwError::CopyFailed));
        }
        let moved = if Self::overlaps(&src_segs, &dst_segs) {
            self.copy_bounced(&src_segs, &dst_segs, len)
        } else {
            self.copy_streamed(&src_segs, &dst_segs)
        };
        moved.map_err(|e| ce.fail(e))?;
        ce.jobs.fetch_add(1, Ordering::Relaxed);
        ce.bytes_copied.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Copies disjoint ranges through a one-page bounce buffer.
    fn copy_streamed(&self, src: &[Segment], dst: &[Segment]) -> Result<()> {
        // Lossless: page_size <= 64 KiB.
        let buf_len_page = 1usize << self.page_shift;
        let mut bounce = vec![0u8; buf_len_page];
        self.walk(src, dst, |ss, sa, ds, da, n| {
            let buf = &mut bounce[..n];
            let committed = self.read_piece(ss, sa, buf)?;
            if committed && n == buf_len_page {
                // A whole committed page (so both sides are page aligned): no zero scan.
                return self
                    .space_store(ds)
                    .write_committed_page(da >> self.page_shift, buf)
                    .map_err(|e| self.space_fault(ds, e.0));
            }
            self.write_piece(ds, da, n, committed.then_some(&*buf))
        })
    }

    /// Copies overlapping ranges by reading the whole source first (`memmove`).
    #[cold]
    fn copy_bounced(&self, src: &[Segment], dst: &[Segment], len: u64) -> Result<()> {
        let too_big =
            HwError::InvalidArgument("overlapping copy too large to stage in host memory");
        let total = usize::try_from(len).map_err(|_| too_big.clone())?;
        let mut data = Vec::new();
        data.try_reserve_exact(total).map_err(|_| too_big)?;
        data.resize(total, 0u8);
        let mut pos = 0usize;
        self.walk(src, src, |ss, sa, _, _, n| {
            self.read_piece(ss, sa, &mut data[pos..pos + n])?;
            pos += n;
            Ok(())
        })?;
        let mut pos = 0usize;
        self.walk(dst, dst, |ds, da, _, _, n| {
            let piece = &data[pos..pos + n];
            pos += n;
            self.write_piece(ds, da, n, Some(piece))
        })
    }

    /// Fills `len` bytes at `dst` with `value` (a clear job: amdgpu's `amdgpu_fill_buffer`).
    ///
    /// Whole pages filled with zero give their memory back, so clearing a large BO that
    /// was never written costs time proportional to what was written, not to its size.
    ///
    /// # Errors
    /// As [`copy`](Self::copy) for the destination; nothing is written on error.
    ///
    /// # Complexity
    /// O(partial pages + min(whole pages, committed pages)) for zero, O(pages) otherwise;
    /// O(GART pages) to resolve a GART range.
    pub fn fill(&self, dst: DevAddr, len: u64, value: u8) -> Result<()> {
        let ce = &self.copy;
        let segs = self.resolve(dst, len).map_err(|e| ce.fail(e))?;
        if ce.inject() {
            ce.injected_failures.fetch_add(1, Ordering::Relaxed);
            return Err(ce.fail(HwError::CopyFailed));
        }
        for s in &segs {
            let store = self.space_store(s.space);
            fill_range(
                store,
                self.page_shift,
                s.start,
                s.start + s.len,
                value,
                |p| self.space_fault(s.space, p),
            )
            .map_err(|e| ce.fail(e))?;
        }
        ce.jobs.fetch_add(1, Ordering::Relaxed);
        ce.bytes_filled.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Reads what the device sees at `[addr, addr + buf.len())` (a test and debug helper:
    /// no job, no fault injection).
    ///
    /// # Errors
    /// As [`copy`](Self::copy) for a source range; `buf` is unspecified on error.
    pub fn dev_read(&self, addr: DevAddr, buf: &mut [u8]) -> Result<()> {
        let segs = self.resolve(addr, len_u64(buf.len()))?;
        let mut pos = 0usize;
        self.walk(&segs, &segs, |sp, a, _, _, n| {
            self.read_piece(sp, a, &mut buf[pos..pos + n])?;
            pos += n;
            Ok(())
        })
    }

    /// Writes `data` where the device sees `addr` (a test and debug helper: no job, no
    /// fault injection).
    ///
    /// # Errors
    /// As [`copy`](Self::copy) for a destination range; nothing is written on error.
    pub fn dev_write(&self, addr: DevAddr, data: &[u8]) -> Result<()> {
        let segs = self.resolve(addr, len_u64(data.len()))?;
        let mut pos = 0usize;
        self.walk(&segs, &segs, |sp, a, _, _, n| {
            let piece = &data[pos..pos + n];
            pos += n;
            self.write_piece(sp, a, n, Some(piece))
        })
    }

    /// The DMA address the device reaches at GART byte offset `offset` (debug helper).
    ///
    /// # Errors
    /// [`HwError::GartOutOfRange`] or [`HwError::GartFault`] as [`Gart::translate`](super::Gart::translate).
    pub fn gart_to_dma(&self, offset: u64) -> Result<DmaAddr> {
        let page_size = self.gart.page_size();
        let dma = self.gart.translate(offset / page_size)?;
        dma.checked_add(offset % page_size)
            .ok_or(HwError::GartFault {
                gart_page: offset / page_size,
            })
    }
}

/// Offset within its page (lossless: below the page size, <= 64 KiB).
fn in_page(addr: u64, page_shift: u32) -> usize {
    (addr & ((1u64 << page_shift) - 1)) as usize
}

/// Number of pages `[offset, offset + len)` touches (at least 1, saturating on overflow).
fn pages_spanned(offset: u64, len: u64, page_size: u64) -> u64 {
    let first = offset / page_size;
    let last = offset.saturating_add(len.max(1) - 1) / page_size;
    last - first + 1
}
