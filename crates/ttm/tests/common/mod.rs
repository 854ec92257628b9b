//! Test doubles shared by the integration tests: a first-fit page manager and a
//! data-carrying driver whose VRAM/PRIV backing is a page-stamp store keyed by
//! (memory type, page offset) and whose system pages are keyed by DMA address.
//!
//! Every page of a BO carries an 8-byte stamp derived from a seed and the page
//! index; moves copy stamps page by page, so a test can check that every byte
//! pattern survives every move.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pddgpu_ttm::{
    BoInfo, CheckError, Device, DeviceConfig, DeviceFuncs, Error, ManagerCtx, MemType, MoveArgs,
    MoveError, PageSource, Place, PlaceFlags, Placement, ReservedBo, Resource, ResourceManager,
    Result, PAGE_SIZE,
};

/// 1 KiB.
pub(crate) const KIB: u64 = 1024;

/// The extent a [`FirstFit`] manager stores in each resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    /// First page.
    pub(crate) start: u64,
    /// Pages.
    pub(crate) pages: u64,
}

/// A first-fit (or last-fit for TOPDOWN) page allocator: simple enough to be
/// obviously right, deterministic enough for exact expectations.
#[derive(Debug)]
pub(crate) struct FirstFit {
    num_pages: u64,
    used: Mutex<BTreeMap<u64, u64>>,
    /// Report no space for every allocation.
    pub(crate) always_nospace: AtomicBool,
    /// Fail every allocation with this error.
    pub(crate) fail_with: Mutex<Option<Error>>,
    /// Number of `alloc` calls.
    pub(crate) allocs: AtomicU64,
}

impl FirstFit {
    /// A manager over `num_pages` pages.
    pub(crate) fn new(num_pages: u64) -> Arc<FirstFit> {
        Arc::new(FirstFit {
            num_pages,
            used: Mutex::new(BTreeMap::new()),
            always_nospace: AtomicBool::new(false),
            fail_with: Mutex::new(None),
            allocs: AtomicU64::new(0),
        })
    }

    /// Allocated extents `(start, pages)` in address order.
    pub(crate) fn extents(&self) -> Vec<(u64, u64)> {
        self.used.lock().iter().map(|(&s, &n)| (s, n)).collect()
    }

    /// Pages allocated.
    pub(crate) fn used_pages(&self) -> u64 {
        self.used.lock().values().sum()
    }

    fn gaps(used: &BTreeMap<u64, u64>, total: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for (&s, &n) in used {
            if s > at {
                gaps.push((at, s));
            }
            at = s + n;
        }
        if at < total {
            gaps.push((at, total));
        }
        gaps
    }
}

impl ResourceManager for FirstFit {
    fn alloc(
        &self,
        _ctx: &ManagerCtx<'_>,
        bo: &BoInfo,
        place: &Place,
        res: &mut Resource,
    ) -> Result<()> {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = *self.fail_with.lock() {
            return Err(e);
        }
        if self.always_nospace.load(Ordering::Relaxed) {
            return Err(Error::NoSpace);
        }
        let pages = bo.num_pages();
        let align = bo.page_alignment.max(1);
        let lo = u64::from(place.fpfn);
        let hi = if place.lpfn == 0 {
            self.num_pages
        } else {
            u64::from(place.lpfn).min(self.num_pages)
        };
        let mut used = self.used.lock();
        let gaps: Vec<(u64, u64)> = Self::gaps(&used, self.num_pages)
            .into_iter()
            .map(|(s, e)| (s.max(lo), e.min(hi)))
            .filter(|(s, e)| s < e)
            .collect();
        let found = if place.flags.contains(PlaceFlags::TOPDOWN) {
            gaps.iter().rev().find_map(|&(s, e)| {
                let c = e.checked_sub(pages)? / align * align;
                (c >= s).then_some(c)
            })
        } else {
            gaps.iter().find_map(|&(s, e)| {
                let c = s.div_ceil(align) * align;
                (c + pages <= e).then_some(c)
            })
        };
        let start = found.ok_or(Error::NoSpace)?;
        used.insert(start, pages);
        res.set_start(start);
        res.set_private(Extent { start, pages });
        Ok(())
    }

    fn free(&self, _ctx: &ManagerCtx<'_>, res: &mut Resource) {
        let ext = res
            .take_private::<Extent>()
            .expect("first-fit resource without extent");
        assert_eq!(
            self.used.lock().remove(&ext.start),
            Some(ext.pages),
            "double free"
        );
    }

    fn intersects(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        let ext = res.private::<Extent>().expect("extent");
        let hi = if place.lpfn == 0 {
            u64::MAX
        } else {
            u64::from(place.lpfn)
        };
        ext.start < hi && u64::from(place.fpfn) < ext.start + ext.pages
    }

    fn compatible(&self, res: &Resource, place: &Place, _size: u64) -> bool {
        let ext = res.private::<Extent>().expect("extent");
        let hi = if place.lpfn == 0 {
            u64::MAX
        } else {
            u64::from(place.lpfn)
        };
        ext.start >= u64::from(place.fpfn) && ext.start + ext.pages <= hi
    }

    fn debug(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let used = self.used.lock();
        for (&s, &n) in used.iter() {
            writeln!(out, "{:#018x}-{:#018x}: {}: used", s, s + n, n)?;
        }
        let u: u64 = used.values().sum();
        writeln!(
            out,
            "total: {}, used {} free {}",
            self.num_pages,
            u,
            self.num_pages - u
        )
    }

    fn check(&self) -> std::result::Result<(), CheckError> {
        let mut at = 0;
        for (&s, &n) in self.used.lock().iter() {
            if s < at || n == 0 || s + n > self.num_pages {
                return Err(CheckError(format!("bad extent {s}+{n}")));
            }
            at = s + n;
        }
        Ok(())
    }
}

/// Backing store: per device page and per system page, an 8-byte stamp (absent = 0).
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// (memory type index, page) → stamp, for memory not backed by TT pages.
    pub(crate) dev: HashMap<(usize, u64), u64>,
    /// DMA page address → stamp.
    pub(crate) sys: HashMap<u64, u64>,
}

#[derive(Debug, Default)]
struct PageAlloc {
    next: u64,
    free: HashMap<u8, Vec<u64>>,
    outstanding: u64,
    limit: Option<u64>,
}

/// A data-carrying driver.
#[derive(Debug)]
pub(crate) struct TestDriver {
    /// Contents of every memory type.
    pub(crate) store: Mutex<Store>,
    pages: Mutex<PageAlloc>,
    /// Eviction placement per source memory type (missing = empty = purge).
    pub(crate) evict_to: Mutex<HashMap<MemType, Placement>>,
    /// Ask for a bounce through TT (TEMPORARY) for device memory → SYSTEM moves.
    pub(crate) multihop: AtomicBool,
    /// Make every move fail with `Io`.
    pub(crate) fail_moves: AtomicBool,
    /// Make every move panic.
    pub(crate) panic_moves: AtomicBool,
    /// Completed moves.
    pub(crate) moves: AtomicU64,
    /// Completed eviction moves.
    pub(crate) evictions: AtomicU64,
    /// Bounces requested.
    pub(crate) hops: AtomicU64,
    /// Release notifications.
    pub(crate) released: AtomicU64,
}

/// The stamp of page `i` of a BO written with `seed` (never 0).
pub(crate) fn stamp(seed: u64, i: u64) -> u64 {
    (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 32) ^ i) | 1
}

impl TestDriver {
    /// A driver evicting VRAM → TT → SYSTEM and PRIV → SYSTEM, with multihop on.
    pub(crate) fn new() -> Arc<TestDriver> {
        let mut evict_to = HashMap::new();
        evict_to.insert(MemType::VRAM, Placement::single(MemType::TT));
        evict_to.insert(MemType::TT, Placement::single(MemType::SYSTEM));
        evict_to.insert(MemType::PRIV, Placement::single(MemType::SYSTEM));
        Arc::new(TestDriver {
            store: Mutex::new(Store::default()),
            pages: Mutex::new(PageAlloc {
                next: 0x1_0000_0000,
                ..PageAlloc::default()
            }),
            evict_to: Mutex::new(evict_to),
            multihop: AtomicBool::new(true),
            fail_moves: AtomicBool::new(false),
            panic_moves: AtomicBool::new(false),
            moves: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            hops: AtomicU64::new(0),
            released: AtomicU64::new(0),
        })
    }

    /// Limits the system pages handed out.
    pub(crate) fn set_page_limit(&self, limit: Option<u64>) {
        self.pages.lock().limit = limit;
    }

    /// System pages currently handed out (in TTs or cached in the pool).
    pub(crate) fn outstanding_pages(&self) -> u64 {
        self.pages.lock().outstanding
    }

    /// Sets the eviction placement for BOs in `from`.
    pub(crate) fn set_evict_to(&self, from: MemType, placement: Placement) {
        self.evict_to.lock().insert(from, placement);
    }

    fn read_res(&self, res: Option<&Resource>, tt: Option<&pddgpu_ttm::Tt>, n: u64) -> Vec<u64> {
        let store = self.store.lock();
        match res {
            Some(r) if !r.use_tt() => (0..n)
                .map(|i| {
                    *store
                        .dev
                        .get(&(r.mem_type().index(), r.start() + i))
                        .unwrap_or(&0)
                })
                .collect(),
            // TT-backed (or never placed): the pages, or zeros while unpopulated.
            _ => match tt {
                Some(tt) if tt.is_populated() => tt
                    .pages()
                    .iter()
                    .map(|a| *store.sys.get(a).unwrap_or(&0))
                    .collect(),
                _ => vec![0; usize::try_from(n).expect("small")],
            },
        }
    }

    /// Reads the stamps of every page of a reserved BO.
    pub(crate) fn read_bo(&self, bo: &ReservedBo<'_>) -> Vec<u64> {
        self.read_res(bo.resource(), bo.tt(), bo.info().num_pages())
    }

    /// Writes `stamp(seed, i)` into every page of a reserved BO (populating its TT
    /// if it lives in TT pages).
    pub(crate) fn write_bo(&self, bo: &mut ReservedBo<'_>, seed: u64) -> Result<()> {
        let n = bo.info().num_pages();
        let res = bo.resource().ok_or(Error::InvalidArgument)?;
        if res.use_tt() {
            bo.populate_tt()?;
            let tt = bo.tt().ok_or(Error::InvalidArgument)?;
            let mut store = self.store.lock();
            for (i, a) in tt.pages().iter().enumerate() {
                store.sys.insert(*a, stamp(seed, i as u64));
            }
        } else {
            let (t, start) = (res.mem_type().index(), res.start());
            let mut store = self.store.lock();
            for i in 0..n {
                store.dev.insert((t, start + i), stamp(seed, i));
            }
        }
        Ok(())
    }

    /// The expected stamps for `seed`.
    pub(crate) fn expected(seed: u64, n: u64) -> Vec<u64> {
        (0..n).map(|i| stamp(seed, i)).collect()
    }
}

impl DeviceFuncs for TestDriver {
    fn evict_flags(&self, _bo: &BoInfo, res: &Resource) -> Placement {
        self.evict_to
            .lock()
            .get(&res.mem_type())
            .cloned()
            .unwrap_or_default()
    }

    fn move_bo(&self, args: &MoveArgs<'_>) -> std::result::Result<(), MoveError> {
        let n = args.bo.num_pages();
        let from_device = args.old.is_some_and(|o| !o.use_tt());
        if self.multihop.load(Ordering::Relaxed)
            && from_device
            && args.new.mem_type() == MemType::SYSTEM
        {
            self.hops.fetch_add(1, Ordering::Relaxed);
            return Err(MoveError::Multihop(
                Place::new(MemType::TT).with_flags(PlaceFlags::TEMPORARY),
            ));
        }
        assert!(
            !self.panic_moves.load(Ordering::Relaxed),
            "driver move panicked"
        );
        if self.fail_moves.load(Ordering::Relaxed) {
            return Err(MoveError::Failed(Error::Io));
        }
        let src = self.read_res(args.old, args.tt, n);
        if args.new.use_tt() {
            if from_device {
                let tt = args
                    .tt
                    .filter(|t| t.is_populated())
                    .ok_or(MoveError::Failed(Error::InvalidArgument))?;
                let mut store = self.store.lock();
                for (a, s) in tt.pages().iter().zip(&src) {
                    store.sys.insert(*a, *s);
                }
            }
            // TT → TT/SYSTEM: the same pages stay with the BO; nothing to copy.
        } else {
            let (t, start) = (args.new.mem_type().index(), args.new.start());
            let mut store = self.store.lock();
            for (i, s) in src.iter().enumerate() {
                let key = (t, start + i as u64);
                if *s == 0 {
                    store.dev.remove(&key);
                } else {
                    store.dev.insert(key, *s);
                }
            }
        }
        self.moves.fetch_add(1, Ordering::Relaxed);
        if args.evict {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn release_notify(&self, _bo: &BoInfo) {
        self.released.fetch_add(1, Ordering::Relaxed);
    }
}

impl PageSource for TestDriver {
    fn alloc_pages(&self, order: u8) -> Result<u64> {
        let mut p = self.pages.lock();
        let n = 1u64 << order;
        if p.limit.is_some_and(|l| p.outstanding + n > l) {
            return Err(Error::OutOfMemory);
        }
        let addr = match p.free.get_mut(&order).and_then(Vec::pop) {
            Some(a) => a,
            None => {
                let bytes = n * PAGE_SIZE;
                let a = p.next.div_ceil(bytes) * bytes;
                p.next = a + bytes;
                a
            }
        };
        p.outstanding += n;
        Ok(addr)
    }

    fn free_pages(&self, dma_addr: u64, order: u8) {
        self.clear_pages(dma_addr, order);
        let mut p = self.pages.lock();
        p.outstanding -= 1u64 << order;
        p.free.entry(order).or_default().push(dma_addr);
    }

    fn clear_pages(&self, dma_addr: u64, order: u8) {
        let mut store = self.store.lock();
        for i in 0..1u64 << order {
            store.sys.remove(&(dma_addr + i * PAGE_SIZE));
        }
    }
}

/// A device with VRAM, TT and PRIV first-fit managers of the given page counts.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The device.
    pub(crate) dev: Arc<Device>,
    /// The driver.
    pub(crate) drv: Arc<TestDriver>,
    /// VRAM manager.
    pub(crate) vram: Arc<FirstFit>,
    /// TT manager.
    pub(crate) tt: Arc<FirstFit>,
    /// PRIV manager.
    pub(crate) prv: Arc<FirstFit>,
}

/// Builds a [`Setup`].
pub(crate) fn setup(vram_pages: u64, tt_pages: u64, priv_pages: u64) -> Setup {
    setup_with(vram_pages, tt_pages, priv_pages, DeviceConfig::default())
}

/// Builds a [`Setup`] with a device configuration.
pub(crate) fn setup_with(
    vram_pages: u64,
    tt_pages: u64,
    priv_pages: u64,
    config: DeviceConfig,
) -> Setup {
    let drv = TestDriver::new();
    let dev = Device::new(drv.clone(), drv.clone(), config);
    let vram = FirstFit::new(vram_pages);
    let tt = FirstFit::new(tt_pages);
    let prv = FirstFit::new(priv_pages);
    dev.set_manager(MemType::VRAM, vram.clone(), false, vram_pages * PAGE_SIZE)
        .expect("vram");
    dev.set_manager(MemType::TT, tt.clone(), true, tt_pages * PAGE_SIZE)
        .expect("tt");
    dev.set_manager(MemType::PRIV, prv.clone(), false, priv_pages * PAGE_SIZE)
        .expect("priv");
    Setup {
        dev,
        drv,
        vram,
        tt,
        prv,
    }
}

impl Setup {
    /// Device check plus: each manager's allocated pages match TTM's usage.
    pub(crate) fn check(&self) {
        self.dev.check().expect("device invariants");
        for (t, m) in [
            (MemType::VRAM, &self.vram),
            (MemType::TT, &self.tt),
            (MemType::PRIV, &self.prv),
        ] {
            assert_eq!(
                self.dev.usage(t),
                m.used_pages() * PAGE_SIZE,
                "{t:?} usage vs manager"
            );
        }
    }
}

/// A small deterministic RNG (xorshift64*).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeded generator (seed 0 is remapped).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Next value.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
