//! TT objects (system-page backing of a BO, upstream `struct ttm_tt`) and the page
//! pool (`ttm_pool`) that caches freed pages by order.
//!
//! System pages are identified by their DMA address: a page-aligned `u64`. The driver
//! supplies them through [`PageSource`] (the PDDGPU driver backs them with its
//! simulated system memory). A [`Tt`] is created unpopulated (no pages) and populated
//! lazily: when its BO moves into a `use_tt` manager other than SYSTEM, or when a CPU
//! access needs the pages. The pool hands out power-of-two chunks of consecutive pages,
//! largest order first, and takes them back — cleared — when a TT is unpopulated, so a
//! new BO never sees a previous owner's bytes.
//!
//! # Upstream
//! `ttm_pool` clears every page given back to it. Here a TT remembers whether anyone
//! learnt the addresses of its pages ([`Tt::pages`], [`Tt::chunks`]): nobody can write
//! a page without its address (the CPU, the GART and the copy engine all need it), so
//! the pages of a TT whose addresses were never handed out still read as zero and go
//! back to the pool without clearing. A BO created and destroyed without CPU access,
//! GART binding or copies (the common small GTT BO) never pays for clearing.

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::inline_vec::InlineVec;

/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;

/// Chunks of a TT stored inline: a BO whose page count has at most this many bits
/// set (below 2^[`MAX_POOL_ORDER`] pages) needs no allocation for its chunk list.
const INLINE_CHUNKS: usize = 2;

/// Pages of a TT listed inline (small BOs need no allocation for their page list).
const INLINE_PAGES: usize = 4;

/// The chunk list of a TT: `(dma_addr, order)`.
pub(crate) type Chunks = InlineVec<(u64, u8), INLINE_CHUNKS>;

/// Filler for unused inline chunk slots.
const NO_CHUNK: (u64, u8) = (0, 0);

/// Largest chunk order the pool allocates (`MAX_PAGE_ORDER`): 2^10 pages = 4 MiB.
pub const MAX_POOL_ORDER: u8 = 10;

/// Supplier of system pages (the driver's page allocator).
///
/// # Contract
/// `alloc_pages(order)` returns the DMA address of `2^order` consecutive, zeroed
/// pages, aligned to `PAGE_SIZE`; `free_pages` takes them back; `clear_pages` zeroes
/// them (the pool clears the pages it keeps for reuse unless their addresses were never
/// handed out, see the [module documentation](self)). The source itself must not write
/// pages it has handed out.
pub trait PageSource: Send + Sync + fmt::Debug {
    /// Allocates `2^order` consecutive zeroed pages.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when no such chunk is available (the pool then retries
    /// with a smaller order).
    fn alloc_pages(&self, order: u8) -> Result<u64>;
    /// Returns a chunk obtained from [`PageSource::alloc_pages`] with the same order.
    fn free_pages(&self, dma_addr: u64, order: u8);
    /// Zeroes a chunk.
    fn clear_pages(&self, dma_addr: u64, order: u8);
}

/// CPU caching mode of a TT's pages (`enum ttm_caching`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caching {
    /// Write-back cached.
    #[default]
    Cached,
    /// Write-combined.
    WriteCombined,
    /// Uncached.
    Uncached,
}

/// The system-page backing of one BO.
///
/// # Invariants
/// Populated ⇔ `pages.len() == num_pages`, and `pages` lists the pages of `chunks` in
/// order; unpopulated ⇔ both are empty. While `exposed` is false nobody outside this
/// module has seen the page addresses, so the pages still hold the zeros the pool
/// handed out.
#[derive(Debug)]
pub struct Tt {
    num_pages: u64,
    caching: Caching,
    populated: bool,
    zero_alloc: bool,
    chunks: Chunks,
    pages: InlineVec<u64, INLINE_PAGES>,
    /// Set by the first [`Tt::pages`] or [`Tt::chunks`] after population.
    exposed: AtomicBool,
}

impl Tt {
    pub(crate) fn new(num_pages: u64, caching: Caching, zero_alloc: bool) -> Tt {
        Tt {
            num_pages,
            caching,
            populated: false,
            zero_alloc,
            chunks: Chunks::new(NO_CHUNK),
            pages: InlineVec::new(0),
            exposed: AtomicBool::new(false),
        }
    }

    /// Records that the page addresses were handed out: the pages may be written from
    /// now on and are cleared when the TT is unpopulated.
    fn expose(&self) {
        if !self.exposed.load(Ordering::Relaxed) {
            self.exposed.store(true, Ordering::Relaxed);
        }
    }

    /// Number of pages the TT covers.
    #[must_use]
    pub fn num_pages(&self) -> u64 {
        self.num_pages
    }

    /// Caching mode chosen by the driver at creation.
    #[must_use]
    pub fn caching(&self) -> Caching {
        self.caching
    }

    /// Whether pages are attached.
    #[must_use]
    pub fn is_populated(&self) -> bool {
        self.populated
    }

    /// Whether contents were dropped (purged) and must read as zero
    /// (`TTM_TT_FLAG_ZERO_ALLOC`).
    #[must_use]
    pub fn zero_alloc(&self) -> bool {
        self.zero_alloc
    }

    /// DMA address of every page, in BO order; empty when unpopulated. From now on
    /// the pages count as written (they are cleared when given back to the pool).
    #[must_use]
    pub fn pages(&self) -> &[u64] {
        self.expose();
        self.pages.as_slice()
    }

    /// The chunks `(dma_addr, order)` backing the TT. From now on the pages count as
    /// written, as with [`Tt::pages`].
    #[must_use]
    pub fn chunks(&self) -> &[(u64, u8)] {
        self.expose();
        self.chunks.as_slice()
    }

    /// Whether the page addresses were handed out since the TT was populated (then the
    /// pages may hold data and are cleared when unpopulated).
    #[must_use]
    pub fn is_exposed(&self) -> bool {
        self.exposed.load(Ordering::Relaxed)
    }

    pub(crate) fn set_zero_alloc(&mut self, zero: bool) {
        self.zero_alloc = zero;
    }

    pub(crate) fn populate(&mut self, pool: &PagePool) -> Result<()> {
        if self.populated {
            return Ok(());
        }
        let n = usize::try_from(self.num_pages).map_err(|_| Error::OutOfMemory)?;
        let mut pages = InlineVec::try_with_capacity(n, 0).ok_or(Error::OutOfMemory)?;
        let mut chunks = Chunks::new(NO_CHUNK);
        pool.alloc_into(self.num_pages, &mut chunks)?;
        for &(addr, order) in chunks.as_slice() {
            for i in 0..1u64 << order {
                pages.push(addr + i * PAGE_SIZE);
            }
        }
        self.chunks = chunks;
        self.pages = pages;
        // Fresh chunks read as zero (the pool's invariant) and nobody knows them yet.
        *self.exposed.get_mut() = false;
        self.populated = true;
        Ok(())
    }

    pub(crate) fn unpopulate(&mut self, pool: &PagePool) {
        if !self.populated {
            return;
        }
        self.pages = InlineVec::new(0);
        let clear = *self.exposed.get_mut();
        pool.give_back(self.chunks.as_slice(), clear);
        self.chunks = Chunks::new(NO_CHUNK);
        self.populated = false;
    }
}

/// Freed chunks kept for reuse, per order.
#[derive(Debug, Default)]
struct PoolCache {
    free: [Vec<u64>; MAX_POOL_ORDER as usize + 1],
    cached_pages: u64,
}

/// A page pool caching freed pages by order, in front of a [`PageSource`].
///
/// # Synchronization
/// One internal mutex around the cache, never held while calling the source.
#[derive(Debug)]
pub struct PagePool {
    source: Arc<dyn PageSource>,
    cache: Mutex<PoolCache>,
    max_cached_pages: u64,
}

fn floor_log2(n: u64) -> u8 {
    // n > 0 here; 63 - leading_zeros fits in u8.
    u8::try_from(63 - n.leading_zeros()).unwrap_or(0)
}

impl PagePool {
    /// A pool over `source` keeping at most `max_cached_pages` pages cached.
    #[must_use]
    pub fn new(source: Arc<dyn PageSource>, max_cached_pages: u64) -> PagePool {
        PagePool {
            source,
            cache: Mutex::new(PoolCache::default()),
            max_cached_pages,
        }
    }

    /// Pages currently cached.
    #[must_use]
    pub fn cached_pages(&self) -> u64 {
        self.cache.lock().cached_pages
    }

    /// Cached chunks of `order`.
    #[must_use]
    pub fn cached_chunks(&self, order: u8) -> usize {
        self.cache
            .lock()
            .free
            .get(usize::from(order))
            .map_or(0, Vec::len)
    }

    fn take_cached(&self, order: u8) -> Option<u64> {
        let mut cache = self.cache.lock();
        let addr = cache.free[usize::from(order)].pop()?;
        cache.cached_pages -= 1 << order;
        Some(addr)
    }

    /// Allocates `num_pages` pages as chunks, largest order first, falling back to
    /// smaller orders (`ttm_pool_alloc`). All or nothing.
    ///
    /// # Errors
    /// The source's error when not even a single page is available; everything taken
    /// so far is given back.
    pub fn alloc(&self, num_pages: u64) -> Result<Vec<(u64, u8)>> {
        let mut chunks = Chunks::new(NO_CHUNK);
        self.alloc_into(num_pages, &mut chunks)?;
        Ok(chunks.as_slice().to_vec())
    }

    /// [`PagePool::alloc`] into `chunks` (empty on entry; empty again on error).
    pub(crate) fn alloc_into(&self, num_pages: u64, chunks: &mut Chunks) -> Result<()> {
        let mut remaining = num_pages;
        let mut order = MAX_POOL_ORDER;
        while remaining > 0 {
            order = order.min(floor_log2(remaining));
            let got = match self.take_cached(order) {
                Some(addr) => Ok(addr),
                None => self.source.alloc_pages(order).and_then(|addr| {
                    if addr % PAGE_SIZE == 0 {
                        Ok(addr)
                    } else {
                        self.source.free_pages(addr, order);
                        Err(Error::InvalidArgument)
                    }
                }),
            };
            match got {
                Ok(addr) => {
                    chunks.push((addr, order));
                    remaining -= 1 << order;
                }
                Err(Error::OutOfMemory) if order > 0 => order -= 1,
                Err(e) => {
                    // Nobody has seen these chunks: they still read as zero.
                    self.give_back(chunks.as_slice(), false);
                    *chunks = Chunks::new(NO_CHUNK);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Takes chunks back: cleared and cached up to the limit, else freed to the source.
    pub fn free(&self, chunks: Vec<(u64, u8)>) {
        self.give_back(&chunks, true);
    }

    /// [`PagePool::free`] from a slice; `clear: false` for chunks known to read as
    /// zero (never written since the pool handed them out).
    pub(crate) fn give_back(&self, chunks: &[(u64, u8)], clear: bool) {
        for &(addr, order) in chunks {
            if clear {
                self.source.clear_pages(addr, order);
            }
            let mut cache = self.cache.lock();
            if cache.cached_pages + (1 << order) <= self.max_cached_pages {
                cache.free[usize::from(order)].push(addr);
                cache.cached_pages += 1 << order;
            } else {
                drop(cache);
                self.source.free_pages(addr, order);
            }
        }
    }

    /// Returns every cached page to the source (`ttm_pool_fini` / shrinker).
    pub fn shrink(&self) {
        let drained: Vec<(u64, u8)> = {
            let mut cache = self.cache.lock();
            cache.cached_pages = 0;
            let mut v = Vec::new();
            for (order, list) in cache.free.iter_mut().enumerate() {
                let order = u8::try_from(order).unwrap_or(MAX_POOL_ORDER);
                v.extend(list.drain(..).map(|a| (a, order)));
            }
            v
        };
        for (addr, order) in drained {
            self.source.free_pages(addr, order);
        }
    }
}
