//! System memory: host pages the device reaches by DMA address.
//!
//! This models the kernel's page allocator as TTM sees it: `alloc_pages(order)` hands out
//! `2^order` physically contiguous pages identified by the DMA address of the first one,
//! `free_pages(addr, order)` gives them back. DMA addresses start at [`DMA_BASE`], far
//! above any VRAM offset, so the two can never be confused. Fresh pages read as zero and,
//! like VRAM, commit host memory only when a non-zero byte is written; freeing pages
//! releases their memory.
//!
//! Block addresses come from per-order free lists (LIFO, like the kernel's per-CPU page
//! lists) and, when a list is empty, from a bump pointer aligned to the block size; the
//! alignment gap is cut into smaller blocks and put on their lists. Blocks are never
//! merged: each order reuses its own freed blocks, so the address range in use stays within
//! a small multiple of the peak of live pages (at most 1 TiB) and the 16 TiB window runs
//! out, as an `OutOfMemory`, only for order mixes no driver produces. The page budget
//! (`sys_mem_size`) is what `OutOfMemory` normally reports.
//!
//! # Synchronization
//! One `Mutex` protects the allocator state; it is held for the O(1) list work and for
//! inserting/removing the block's page slots, so a block's pages exist exactly while it
//! is live (lock order: allocator, then a store shard). Page contents are accessed
//! without the allocator lock, through the sharded store.

use parking_lot::Mutex;

use super::error::{HwError, Result};
use super::store::{pieces, PageMap, PageStore, Presence};
use super::vram::len_u64;

/// First DMA address of system memory (16 TiB): obviously not a VRAM offset.
pub const DMA_BASE: u64 = 1 << 44;
/// Size of the DMA address window, `[DMA_BASE, DMA_BASE + DMA_SPAN)`.
pub const DMA_SPAN: u64 = 1 << 44;
/// Largest order `alloc_pages` accepts (`MAX_PAGE_ORDER` of Linux: 4 MiB blocks of 4 KiB pages).
pub const MAX_PAGE_ORDER: u32 = 10;
/// Number of orders, `0..=MAX_PAGE_ORDER`.
const NR_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;

/// The DMA address of a system page, as a device (and the GART) sees it.
///
/// Any `u64` can be wrapped (a foreign address is rejected where it is used); addresses
/// returned by [`SystemMemory::alloc_pages`] are page aligned and at least [`DMA_BASE`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DmaAddr(u64);

impl DmaAddr {
    /// Wraps a raw DMA address.
    #[must_use]
    pub const fn new(addr: u64) -> Self {
        Self(addr)
    }

    /// The raw address.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The address `bytes` further on, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(a) => Some(Self(a)),
            None => None,
        }
    }
}

impl core::fmt::Debug for DmaAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DmaAddr({:#x})", self.0)
    }
}

impl core::fmt::Display for DmaAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// What the allocator knows of a block it has carved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockState {
    order: u32,
    live: bool,
}

/// Allocator state, behind [`SystemMemory::alloc`].
///
/// # Invariants
/// - `blocks` holds every block ever carved, keyed by its first page index (relative to
///   [`DMA_BASE`]); blocks are disjoint, aligned to their size and below `bump`.
/// - `free[o]` holds exactly the blocks with `BlockState { order: o, live: false }`.
/// - `live_pages` is the page count of the live blocks, at most `total_pages`.
#[derive(Debug)]
struct DmaAllocator {
    free: [Vec<u64>; NR_ORDERS],
    blocks: PageMap<BlockState>,
    bump: u64,
    live_pages: u64,
}

/// Simulated host memory handing out DMA-addressed pages.
pub struct SystemMemory {
    page_shift: u32,
    /// Page budget: `sys_mem_size / page_size`.
    total_pages: u64,
    /// Pages in the DMA window: `DMA_SPAN / page_size`.
    span_pages: u64,
    alloc: Mutex<DmaAllocator>,
    store: PageStore,
}

impl core::fmt::Debug for SystemMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SystemMemory")
            .field("total_pages", &self.total_pages)
            .field("allocated_pages", &self.allocated_pages())
            .field("committed_bytes", &self.committed_bytes())
            .finish()
    }
}

impl SystemMemory {
    /// An empty system memory of `size` bytes in `page_size` pages (sizes validated by
    /// [`HwConfig::validate`](super::HwConfig::validate)).
    pub(crate) fn new(size: u64, page_size: u64) -> Self {
        let page_shift = page_size.trailing_zeros();
        Self {
            page_shift,
            total_pages: size >> page_shift,
            span_pages: DMA_SPAN >> page_shift,
            alloc: Mutex::new(DmaAllocator {
                free: Default::default(),
                blocks: PageMap::default(),
                bump: 0,
                live_pages: 0,
            }),
            // Lossless: page_size <= 64 KiB.
            store: PageStore::new(page_size as usize, Presence::Explicit),
        }
    }

    /// Page size in bytes.
    #[must_use]
    pub fn page_size(&self) -> u64 {
        1 << self.page_shift
    }

    /// The page budget in pages.
    #[must_use]
    pub fn total_pages(&self) -> u64 {
        self.total_pages
    }

    /// Pages in live (allocated, not yet freed) blocks.
    #[must_use]
    pub fn allocated_pages(&self) -> u64 {
        self.alloc.lock().live_pages
    }

    /// Bytes of host memory committed to page contents (pages holding a non-zero byte).
    #[must_use]
    pub fn committed_bytes(&self) -> u64 {
        self.store.committed_bytes()
    }

    /// Allocates `2^order` contiguous pages (upstream `alloc_pages`); they read as zero.
    ///
    /// # Errors
    /// - [`HwError::InvalidArgument`] if `order > MAX_PAGE_ORDER`;
    /// - [`HwError::OutOfMemory`] if the page budget (or, never in practice, the DMA
    ///   window) cannot hold the block. Nothing changes on error.
    ///
    /// # Complexity
    /// O(1) allocator work amortised plus one slot-table operation per 16 pages
    /// (`2^order / 16`, at least 1), under the allocator lock.
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::{HwConfig, SimHw, DMA_BASE};
    /// let hw = SimHw::new(HwConfig::default())?;
    /// let a = hw.sysmem().alloc_pages(2)?;            // 4 pages, 16 KiB aligned
    /// assert!(a.get() >= DMA_BASE && a.get() % (16 << 10) == 0);
    /// assert_eq!(hw.sysmem().allocated_pages(), 4);
    /// hw.sysmem().free_pages(a, 2)?;
    /// assert_eq!(hw.sysmem().allocated_pages(), 0);
    /// # Ok::<(), pddgpu::hw::HwError>(())
    /// ```
    pub fn alloc_pages(&self, order: u32) -> Result<DmaAddr> {
        if order > MAX_PAGE_ORDER {
            return Err(HwError::InvalidArgument("order exceeds MAX_PAGE_ORDER"));
        }
        let n = 1u64 << order;
        let mut a = self.alloc.lock();
        if a.live_pages + n > self.total_pages {
            return Err(HwError::OutOfMemory { order });
        }
        let first = match order_list(&mut a.free, order).pop() {
            Some(first) => first,
            None => self.carve(&mut a, order)?,
        };
        // Every block on a free list or just carved is in `blocks`.
        if let Some(state) = a.blocks.get_mut(&first) {
            state.live = true;
        }
        a.live_pages += n;
        // Under the allocator lock: the pages exist before anyone can learn the address.
        self.store.insert_range(first, n);
        Ok(self.addr_of(first))
    }

    /// Takes a fresh block of `2^order` pages from the bump pointer, first cutting the
    /// alignment gap into free blocks.
    #[cold]
    fn carve(&self, a: &mut DmaAllocator, order: u32) -> Result<u64> {
        let n = 1u64 << order;
        let first = a.bump.next_multiple_of(n);
        if first
            .checked_add(n)
            .map_or(true, |end| end > self.span_pages)
        {
            return Err(HwError::OutOfMemory { order });
        }
        let mut gap = a.bump;
        while gap < first {
            // Largest block aligned at `gap` that fits in the gap (smaller than `n`).
            let o = gap
                .trailing_zeros()
                .min((first - gap).ilog2())
                .min(MAX_PAGE_ORDER);
            a.blocks.insert(
                gap,
                BlockState {
                    order: o,
                    live: false,
                },
            );
            order_list(&mut a.free, o).push(gap);
            gap += 1 << o;
        }
        a.blocks.insert(first, BlockState { order, live: false });
        a.bump = first + n;
        Ok(first)
    }

    /// Frees a block returned by [`alloc_pages`](Self::alloc_pages) with the same order
    /// (upstream `__free_pages`); its contents are discarded.
    ///
    /// # Errors
    /// Nothing changes on error:
    /// - [`HwError::InvalidArgument`] if `order > MAX_PAGE_ORDER`;
    /// - [`HwError::ForeignAddress`] if `addr` is not the start of a block this memory
    ///   handed out (outside the window, unaligned, inside a block, never allocated);
    /// - [`HwError::OrderMismatch`] if the block has another order;
    /// - [`HwError::DoubleFree`] if the block is already free.
    ///
    /// # Complexity
    /// O(1) allocator work, one slot-table operation per 16 pages and O(2^order) slot
    /// releases, under the allocator lock.
    pub fn free_pages(&self, addr: DmaAddr, order: u32) -> Result<()> {
        if order > MAX_PAGE_ORDER {
            return Err(HwError::InvalidArgument("order exceeds MAX_PAGE_ORDER"));
        }
        let foreign = HwError::ForeignAddress { dma_addr: addr.0 };
        let first = self.page_index(addr).ok_or(foreign.clone())?;
        if (addr.0 & (self.page_size() - 1)) != 0 {
            return Err(foreign);
        }
        let mut a = self.alloc.lock();
        let state = a.blocks.get_mut(&first).ok_or(foreign)?;
        if state.order != order {
            return Err(HwError::OrderMismatch {
                dma_addr: addr.0,
                allocated: state.order,
                given: order,
            });
        }
        if !state.live {
            return Err(HwError::DoubleFree {
                dma_addr: addr.0,
                order,
            });
        }
        state.live = false;
        let n = 1u64 << order;
        // Under the allocator lock: the pages are gone before the block can be reused.
        self.store.remove_range(first, n);
        order_list(&mut a.free, order).push(first);
        a.live_pages -= n;
        Ok(())
    }

    /// Live blocks as `(address, order)`, in address order: what a teardown leak check
    /// reports.
    ///
    /// # Complexity
    /// O(blocks log blocks).
    #[must_use]
    pub fn leaks(&self) -> Vec<(DmaAddr, u32)> {
        let a = self.alloc.lock();
        let mut live: Vec<_> = a
            .blocks
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(&first, s)| (self.addr_of(first), s.order))
            .collect();
        live.sort_unstable();
        live
    }

    /// True if the page containing `addr` is allocated.
    #[must_use]
    pub fn is_allocated(&self, addr: DmaAddr) -> bool {
        self.page_index(addr)
            .is_some_and(|page| self.store.is_present(page))
    }

    /// CPU read of `[addr, addr + buf.len())`.
    ///
    /// # Errors
    /// [`HwError::DmaFault`] naming the first page that is not allocated (or outside the
    /// DMA window); `buf` is then partly filled.
    pub fn read(&self, addr: DmaAddr, buf: &mut [u8]) -> Result<()> {
        let start = self.check_window(addr, buf.len())?;
        for p in pieces(start, buf.len(), self.page_shift) {
            self.store
                .read(p.page, p.off, &mut buf[p.pos..p.pos + p.len])
                .map_err(|e| self.fault(e.0))?;
        }
        Ok(())
    }

    /// CPU write of `data` at `addr`.
    ///
    /// # Errors
    /// [`HwError::DmaFault`] naming the first page that is not allocated (or outside the
    /// DMA window); every page is checked first, so nothing is written.
    pub fn write(&self, addr: DmaAddr, data: &[u8]) -> Result<()> {
        let start = self.check_window(addr, data.len())?;
        self.check_pages(start, len_u64(data.len()))?;
        for p in pieces(start, data.len(), self.page_shift) {
            self.store
                .write(p.page, p.off, &data[p.pos..p.pos + p.len])
                .map_err(|e| self.fault(e.0))?;
        }
        Ok(())
    }

    /// Checks that `[addr, addr + len)` is inside the DMA window; returns the offset of
    /// `addr` from [`DMA_BASE`].
    fn check_window(&self, addr: DmaAddr, len: usize) -> Result<u64> {
        let fault = HwError::DmaFault { dma_addr: addr.0 };
        let start = addr.0.checked_sub(DMA_BASE).ok_or(fault.clone())?;
        match start.checked_add(len_u64(len)) {
            Some(end) if end <= DMA_SPAN => Ok(start),
            _ => Err(fault),
        }
    }

    /// Checks that every page of `[start, start + len)` (window offsets) is allocated.
    pub(crate) fn check_pages(&self, start: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        let first = start >> self.page_shift;
        let last = (start + len - 1) >> self.page_shift;
        match (first..=last).find(|&p| !self.store.is_present(p)) {
            Some(page) => Err(self.fault(page)),
            None => Ok(()),
        }
    }

    /// The page index of `addr` relative to [`DMA_BASE`], if inside the window.
    pub(crate) fn page_index(&self, addr: DmaAddr) -> Option<u64> {
        addr.0
            .checked_sub(DMA_BASE)
            .filter(|&off| off < DMA_SPAN)
            .map(|off| off >> self.page_shift)
    }

    fn addr_of(&self, page: u64) -> DmaAddr {
        DmaAddr(DMA_BASE + (page << self.page_shift))
    }

    fn fault(&self, page: u64) -> HwError {
        HwError::DmaFault {
            dma_addr: self.addr_of(page).0,
        }
    }

    /// The page store (for the copy engine).
    pub(crate) fn store(&self) -> &PageStore {
        &self.store
    }

    /// Re-derives the allocator invariants and the store's; call when no allocation is
    /// in flight.
    ///
    /// # Errors
    /// A description of the first violation.
    pub(crate) fn check(&self) -> core::result::Result<(), String> {
        let a = self.alloc.lock();
        let mut blocks: Vec<_> = a.blocks.iter().map(|(&p, &s)| (p, s)).collect();
        blocks.sort_unstable_by_key(|&(p, _)| p);
        let mut live_pages = 0;
        let mut free_count = [0usize; NR_ORDERS];
        let mut prev_end = 0;
        for &(first, s) in &blocks {
            let n = 1u64 << s.order;
            if s.order > MAX_PAGE_ORDER || first % n != 0 {
                return Err(format!(
                    "sysmem: block {first:#x} order {} misaligned",
                    s.order
                ));
            }
            if first < prev_end || first + n > a.bump {
                return Err(format!(
                    "sysmem: block {first:#x} overlaps or passes the bump"
                ));
            }
            prev_end = first + n;
            if s.live {
                live_pages += n;
                if let Some(p) = (first..first + n).find(|&p| !self.store.is_present(p)) {
                    return Err(format!("sysmem: live block {first:#x} lacks page {p:#x}"));
                }
            } else {
                free_count[order_idx(s.order)] += 1;
            }
        }
        for (o, list) in a.free.iter().enumerate() {
            if list.len() != free_count[o] {
                return Err(format!(
                    "sysmem: free list {o} has {} entries for {} free blocks",
                    list.len(),
                    free_count[o]
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for first in list {
                if !seen.insert(*first) {
                    return Err(format!("sysmem: free list {o} holds {first:#x} twice"));
                }
                match a.blocks.get(first) {
                    Some(s) if !s.live && order_idx(s.order) == o => {}
                    _ => return Err(format!("sysmem: free list {o} holds {first:#x} wrongly")),
                }
            }
        }
        if live_pages != a.live_pages || live_pages > self.total_pages {
            return Err(format!(
                "sysmem: live_pages {} but live blocks hold {live_pages}",
                a.live_pages
            ));
        }
        let present = self.store.present_pages();
        if present != live_pages {
            return Err(format!(
                "sysmem: {present} page slots for {live_pages} live pages"
            ));
        }
        self.store.check().map_err(|e| format!("sysmem: {e}"))
    }
}

/// Index of an order in per-order arrays (lossless: orders are at most MAX_PAGE_ORDER).
fn order_idx(order: u32) -> usize {
    order as usize
}

fn order_list(free: &mut [Vec<u64>; NR_ORDERS], order: u32) -> &mut Vec<u64> {
    &mut free[order_idx(order)]
}

/// Damage for tests of [`SystemMemory::check`].
#[cfg(test)]
impl SystemMemory {
    /// Puts the block at `addr` (order 0) on the order-0 free list a second time.
    pub(crate) fn corrupt_free_list(&self, addr: DmaAddr) {
        if let Some(first) = self.page_index(addr) {
            self.alloc.lock().free[0].push(first);
        }
    }

    /// Skews the live page count.
    pub(crate) fn corrupt_live_pages(&self) {
        self.alloc.lock().live_pages += 1;
    }
}
