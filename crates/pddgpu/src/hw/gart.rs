//! The GART: the page table through which the device reaches system pages.
//!
//! The table has `gtt_size / page_size` entries; entry `i` maps the GART page `i` (device
//! bytes `[i * page_size, (i + 1) * page_size)` of the GART aperture) to the DMA address of
//! one system page, or is invalid. Entries are written by [`Gart::bind`] and cleared by
//! [`Gart::unbind`] — CPU writes of the PTEs, as `amdgpu_gart_bind`/`amdgpu_gart_unbind`
//! do — and all of them are lost by [`Gart::reset`] (a GPU reset), after which the driver
//! must re-bind every live GTT range (amdgpu's `amdgpu_gtt_mgr_recover`).
//!
//! The table itself is allocated lazily in chunks of [`ENTRIES_PER_CHUNK`] entries, so an
//! 8 GiB aperture costs nothing until bound.
//!
//! # Synchronization
//! Entries are atomics: `translate` is lock-free, `bind`/`unbind` store entry by entry
//! with release ordering. Binding ranges disjointly is the GTT manager's job (its range
//! allocator hands out each GART page once); overlapping concurrent binds leave each entry
//! with one of the values written. The bound-entry counter is exact whenever no bind,
//! unbind or reset is in flight.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::error::{HwError, Result};
use super::sysmem::{DmaAddr, DMA_BASE, DMA_SPAN};

/// Entries per lazily allocated chunk of the table (one 4 KiB page of 8-byte PTEs).
pub const ENTRIES_PER_CHUNK: u64 = 512;

/// An invalid PTE. Valid entries hold a DMA address, which is at least [`DMA_BASE`] > 0.
const INVALID: u64 = 0;

/// The GART page table of a simulated device.
pub struct Gart {
    num_entries: u64,
    page_size: u64,
    /// `chunks[c]` holds entries `[c * ENTRIES_PER_CHUNK, (c + 1) * ENTRIES_PER_CHUNK)`,
    /// allocated on the first bind into it.
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
    /// Number of valid entries. Signed because a bind racing a reset may subtract an
    /// entry before adding it; readers clamp at zero.
    bound: AtomicI64,
}

impl core::fmt::Debug for Gart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gart")
            .field("num_entries", &self.num_entries)
            .field("bound_entries", &self.bound_entries())
            .field("table_bytes", &self.table_bytes())
            .finish()
    }
}

impl Gart {
    /// A GART of `num_entries` invalid entries mapping `page_size`-byte pages.
    pub(crate) fn new(num_entries: u64, page_size: u64) -> Self {
        let n_chunks = num_entries.div_ceil(ENTRIES_PER_CHUNK);
        let chunks = (0..n_chunks).map(|_| OnceLock::new()).collect();
        Self {
            num_entries,
            page_size,
            chunks,
            bound: AtomicI64::new(0),
        }
    }

    /// Number of entries (GART pages).
    #[must_use]
    pub fn num_entries(&self) -> u64 {
        self.num_entries
    }

    /// Number of valid entries.
    #[must_use]
    pub fn bound_entries(&self) -> u64 {
        u64::try_from(self.bound.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Host bytes used by the allocated parts of the table (8 bytes per entry).
    #[must_use]
    pub fn table_bytes(&self) -> u64 {
        let chunks = self.chunks.iter().filter(|c| c.get().is_some()).count();
        len_u64(chunks) * ENTRIES_PER_CHUNK * 8
    }

    fn check_range(&self, first_page: u64, count: u64) -> Result<()> {
        match first_page.checked_add(count) {
            Some(end) if end <= self.num_entries => Ok(()),
            _ => Err(HwError::GartOutOfRange {
                first_page,
                count,
                num_entries: self.num_entries,
            }),
        }
    }

    /// The entry for `page` if its chunk exists (`page` is in range).
    fn entry(&self, page: u64) -> Option<&AtomicU64> {
        let chunk = self.chunks.get(index(page / ENTRIES_PER_CHUNK))?.get()?;
        chunk.get(index(page % ENTRIES_PER_CHUNK))
    }

    /// Calls `f(page, entries)` for the entries of `[first_page, first_page + count)` one
    /// chunk at a time, so each chunk is looked up once. With `alloc`, missing chunks are
    /// created; otherwise they are skipped (all their entries are invalid). The caller has
    /// checked the range against the table.
    fn for_each_run(
        &self,
        first_page: u64,
        count: u64,
        alloc: bool,
        mut f: impl FnMut(u64, &[AtomicU64]),
    ) {
        let end = first_page + count;
        let mut page = first_page;
        while page < end {
            let lo = page % ENTRIES_PER_CHUNK;
            let n = (ENTRIES_PER_CHUNK - lo).min(end - page);
            let chunk = self
                .chunks
                .get(index(page / ENTRIES_PER_CHUNK))
                .and_then(|slot| {
                    if alloc {
                        Some(slot.get_or_init(|| {
                            (0..ENTRIES_PER_CHUNK)
                                .map(|_| AtomicU64::new(INVALID))
                                .collect()
                        }))
                    } else {
                        slot.get()
                    }
                });
            if let Some(run) = chunk.and_then(|ch| ch.get(index(lo)..index(lo + n))) {
                f(page, run);
            }
            page += n;
        }
    }

    /// Maps GART pages `[first_page, first_page + pages.len())` to `pages`
    /// (upstream `amdgpu_gart_bind`); existing entries are overwritten, as the transfer
    /// windows are rewritten by every copy job.
    ///
    /// The DMA addresses are checked for form (page aligned, inside the DMA window), not for
    /// being allocated: a device access through an entry whose page was freed faults then.
    ///
    /// # Errors
    /// Nothing is written on error:
    /// - [`HwError::GartOutOfRange`] if the range leaves the table or overflows;
    /// - [`HwError::ForeignAddress`] naming the first address that is unaligned or outside
    ///   the DMA window.
    ///
    /// # Complexity
    /// O(pages.len()).
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::{HwConfig, SimHw};
    /// let hw = SimHw::new(HwConfig::default())?;
    /// let page = hw.sysmem().alloc_pages(0)?;
    /// hw.gart().bind(5, &[page])?;
    /// assert_eq!(hw.gart().translate(5)?, page);
    /// hw.gart().unbind(5, 1)?;
    /// assert!(!hw.gart().is_bound(5));
    /// # Ok::<(), pddgpu::hw::HwError>(())
    /// ```
    pub fn bind(&self, first_page: u64, pages: &[DmaAddr]) -> Result<()> {
        let count = len_u64(pages.len());
        self.check_range(first_page, count)?;
        if let Some(bad) = pages.iter().find(|a| !self.is_page_addr(**a)) {
            return Err(HwError::ForeignAddress {
                dma_addr: bad.get(),
            });
        }
        let mut newly = 0i64;
        self.for_each_run(first_page, count, true, |page, run| {
            // Lossless: page - first_page < pages.len().
            let from = (page - first_page) as usize;
            for (e, addr) in run.iter().zip(&pages[from..]) {
                if e.swap(addr.get(), Ordering::Release) == INVALID {
                    newly += 1;
                }
            }
        });
        self.bound.fetch_add(newly, Ordering::Relaxed);
        Ok(())
    }

    /// Invalidates entries `[first_page, first_page + count)` (upstream
    /// `amdgpu_gart_unbind`); entries already invalid stay so.
    ///
    /// # Errors
    /// [`HwError::GartOutOfRange`] if the range leaves the table or overflows (nothing
    /// changes).
    ///
    /// # Complexity
    /// O(count).
    pub fn unbind(&self, first_page: u64, count: u64) -> Result<()> {
        self.check_range(first_page, count)?;
        let mut cleared = 0i64;
        self.for_each_run(first_page, count, false, |_, run| {
            for e in run {
                if e.swap(INVALID, Ordering::Release) != INVALID {
                    cleared += 1;
                }
            }
        });
        self.bound.fetch_sub(cleared, Ordering::Relaxed);
        Ok(())
    }

    /// The DMA address GART page `page` maps to.
    ///
    /// # Errors
    /// [`HwError::GartOutOfRange`] if `page` is not in the table; [`HwError::GartFault`]
    /// if its entry is invalid.
    ///
    /// # Complexity
    /// O(1), lock-free.
    pub fn translate(&self, page: u64) -> Result<DmaAddr> {
        self.check_range(page, 1)?;
        match self.entry(page).map(|e| e.load(Ordering::Acquire)) {
            Some(addr) if addr != INVALID => Ok(DmaAddr::new(addr)),
            _ => Err(HwError::GartFault { gart_page: page }),
        }
    }

    /// True if `page` is in the table and its entry is valid.
    #[must_use]
    pub fn is_bound(&self, page: u64) -> bool {
        self.translate(page).is_ok()
    }

    /// Invalidates every entry, as a GPU reset loses the table (the table memory stays
    /// allocated, ready for the re-bind).
    ///
    /// # Complexity
    /// O(allocated entries).
    pub fn reset(&self) {
        let mut cleared = 0i64;
        for chunk in self.chunks.iter().filter_map(OnceLock::get) {
            for e in chunk.iter() {
                if e.swap(INVALID, Ordering::AcqRel) != INVALID {
                    cleared += 1;
                }
            }
        }
        self.bound.fetch_sub(cleared, Ordering::Relaxed);
    }

    /// Page size of a GART page in bytes.
    pub(crate) fn page_size(&self) -> u64 {
        self.page_size
    }

    fn is_page_addr(&self, addr: DmaAddr) -> bool {
        let a = addr.get();
        a >= DMA_BASE && a - DMA_BASE < DMA_SPAN && a % self.page_size == 0
    }

    /// Re-counts the valid entries; call when no bind, unbind or reset is in flight.
    ///
    /// # Errors
    /// A description of the first violation: a counter mismatch or an entry holding a
    /// malformed address.
    pub(crate) fn check(&self) -> core::result::Result<(), String> {
        let mut bound = 0;
        for (c, chunk) in self.chunks.iter().enumerate() {
            let Some(chunk) = chunk.get() else { continue };
            for (i, e) in chunk.iter().enumerate() {
                let v = e.load(Ordering::Acquire);
                if v == INVALID {
                    continue;
                }
                let page = len_u64(c) * ENTRIES_PER_CHUNK + len_u64(i);
                if page >= self.num_entries || !self.is_page_addr(DmaAddr::new(v)) {
                    return Err(format!("gart: entry {page:#x} holds {v:#x}"));
                }
                bound += 1;
            }
        }
        if bound != self.bound_entries() {
            return Err(format!(
                "gart: counter says {} bound entries, table has {bound}",
                self.bound_entries()
            ));
        }
        Ok(())
    }
}

/// A table index as usize (lossless: tables are far below 2^32 entries on 64-bit hosts,
/// and out-of-range values only make `get` return `None`).
fn index(i: u64) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX)
}

fn len_u64(n: usize) -> u64 {
    super::vram::len_u64(n)
}

/// Damage for tests of [`Gart::check`].
#[cfg(test)]
impl Gart {
    /// Skews the bound-entry counter.
    pub(crate) fn corrupt_counter(&self) {
        self.bound.fetch_add(1, Ordering::Relaxed);
    }
}
