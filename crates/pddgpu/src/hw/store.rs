//! Sparse, lazily committed page storage: the private core under VRAM and system memory.
//!
//! Memory is kept per page slot. A slot's bytes are *committed* (heap-allocated) only when a
//! non-zero byte is written into it, and released again as soon as a write or fill leaves
//! the whole page zero. Reading an uncommitted page yields zeros and commits nothing, so a
//! 4 GiB VRAM costs nothing until written.
//!
//! Two presence rules exist ([`Presence`]): in VRAM every page of the aperture exists and an
//! uncommitted page simply reads as zero; in system memory a page exists exactly while it
//! is allocated, and touching any other page is a fault ([`NotPresent`]).
//!
//! Slots are kept in groups of [`GROUP_PAGES`] consecutive pages (64 KiB of 4 KiB pages), so
//! that making a 4 MiB block of system pages exist or vanish costs 64 table operations, not
//! 1024. A VRAM group is in the table only while it has a committed page; a system-memory
//! group stays once created (see [`Group::is_reclaimable`]).
//!
//! # Synchronization
//! Groups are spread over [`N_SHARDS`] shards by group index, each behind its own
//! `RwLock`. Every data operation touches one page and holds one shard lock for at most
//! one page-sized `memcpy`; no code path ever holds two shard locks, so the store cannot
//! deadlock and transfers to different buffers proceed in parallel.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use parking_lot::RwLock;

use super::vram::len_u64;

/// Number of shards; a power of two so the shard of a group is a mask.
const N_SHARDS: usize = 64;
/// log2 of [`GROUP_PAGES`].
const GROUP_SHIFT: u32 = 4;
/// Pages per group.
pub(crate) const GROUP_PAGES: u64 = 1 << GROUP_SHIFT;

/// Smallest zero fill (in pages, 64 MiB of 4 KiB pages) for which sweeping the table is
/// considered instead of walking the range group by group.
const SWEEP_MIN_PAGES: u64 = 1 << 14;

/// Whether an uncommitted page is an all-zero page or may not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Every page exists; uncommitted pages read as zero (VRAM).
    Implicit,
    /// A page exists only between [`PageStore::insert_range`] and
    /// [`PageStore::remove_range`] (system memory).
    Explicit,
}

/// The page index touched does not exist (only with [`Presence::Explicit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotPresent(pub(crate) u64);

/// Hasher for page and group indices: the splitmix64 finalizer, so that the indices of one
/// shard, which share their low bits, still spread over the table.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let mut z = x ^ self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

/// A `HashMap` keyed by page (or group) index with [`PageHasher`].
pub(crate) type PageMap<V> = HashMap<u64, V, BuildHasherDefault<PageHasher>>;

/// [`GROUP_PAGES`] consecutive page slots; `None` while a page reads as zero.
///
/// # Invariants
/// - implicit store: `present == 0` and at least one slot is `Some`;
/// - explicit store: a slot is `Some` only if its `present` bit is set;
/// - no `Some` slot is all zero once a write or fill has returned.
#[derive(Debug, Default)]
struct Group {
    present: u16,
    pages: [Option<Box<[u8]>>; GROUP_PAGES as usize],
}

impl Group {
    /// True if the group can leave the table: a VRAM group with no committed page.
    /// System-memory groups stay once created, so allocating and freeing pages in the same
    /// address range (the allocator reuses addresses) costs no table insert or remove; the
    /// table is bounded by the address range the allocator ever used.
    fn is_reclaimable(&self, presence: Presence) -> bool {
        presence == Presence::Implicit && self.pages.iter().all(Option::is_none)
    }
}

/// One shard of groups.
///
/// # Invariants
/// `committed` is the number of `Some` slots and `present` the number of set `present`
/// bits over `groups`.
#[derive(Debug, Default)]
struct Shard {
    groups: PageMap<Group>,
    committed: u64,
    present: u64,
}

/// Group index and slot index of a page.
fn split(page: u64) -> (u64, usize) {
    // Lossless: the slot index is below GROUP_PAGES.
    (page >> GROUP_SHIFT, (page & (GROUP_PAGES - 1)) as usize)
}

/// The `present` bit of slot `i`.
fn bit(i: usize) -> u16 {
    1 << i
}

/// The `present` bits of pages `[first, end)`, which lie in one group.
fn mask(first: u64, end: u64) -> u16 {
    let (_, lo) = split(first);
    let n = end - first;
    debug_assert!((1..=GROUP_PAGES).contains(&n) && lo as u64 + n <= GROUP_PAGES);
    // Lossless: at most GROUP_PAGES (16) bits.
    (((1u32 << n) - 1) << lo) as u16
}

/// What a write stores into a page.
#[derive(Debug, Clone, Copy)]
enum Src<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// A whole committed page read under its shard lock: non-zero by the [`Group`]
    /// invariant, so no scan is needed.
    WholePage(&'a [u8]),
    /// `len` copies of one byte value.
    Fill(u8, usize),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match *self {
            Src::Bytes(d) | Src::WholePage(d) => d.len(),
            Src::Fill(_, len) => len,
        }
    }

    /// True if applying this source can only write zeros.
    fn is_zero(&self) -> bool {
        match *self {
            Src::Bytes(d) => is_zero(d),
            Src::WholePage(_) => false,
            Src::Fill(v, _) => v == 0,
        }
    }

    fn apply(&self, dst: &mut [u8]) {
        match *self {
            Src::Bytes(d) | Src::WholePage(d) => dst.copy_from_slice(d),
            Src::Fill(v, _) => dst.fill(v),
        }
    }
}

/// True if every byte is zero (written without early exit so it vectorises).
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |acc, &b| acc | b) == 0
}

/// Sparse storage of `page_size`-byte pages indexed by page number.
pub(crate) struct PageStore {
    page_size: usize,
    presence: Presence,
    shards: Box<[RwLock<Shard>]>,
}

impl core::fmt::Debug for PageStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PageStore")
            .field("page_size", &self.page_size)
            .field("presence", &self.presence)
            .field("committed_pages", &self.committed_pages())
            .finish()
    }
}

impl PageStore {
    /// An empty store; nothing is committed.
    pub(crate) fn new(page_size: usize, presence: Presence) -> Self {
        let shards = (0..N_SHARDS)
            .map(|_| RwLock::new(Shard::default()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Self {
            page_size,
            presence,
            shards,
        }
    }

    fn shard(&self, group: u64) -> &RwLock<Shard> {
        // Lossless: the value is masked below N_SHARDS.
        &self.shards[(group & (N_SHARDS as u64 - 1)) as usize]
    }

    /// Copies `buf.len()` bytes at `off` within `page` into `buf`.
    ///
    /// Returns whether the bytes came from committed memory (`false`: `buf` was zeroed).
    /// The caller keeps `off + buf.len() <= page_size`.
    pub(crate) fn read(&self, page: u64, off: usize, buf: &mut [u8]) -> Result<bool, NotPresent> {
        debug_assert!(off + buf.len() <= self.page_size);
        let (g, i) = split(page);
        let shard = self.shard(g).read();
        let group = shard.groups.get(&g);
        if self.presence == Presence::Explicit && group.map_or(true, |gr| gr.present & bit(i) == 0)
        {
            return Err(NotPresent(page));
        }
        match group.and_then(|gr| gr.pages[i].as_deref()) {
            Some(data) => {
                buf.copy_from_slice(&data[off..off + buf.len()]);
                Ok(true)
            }
            None => {
                buf.fill(0);
                Ok(false)
            }
        }
    }

    /// Writes `data` at `off` within `page`, committing or releasing the slot as needed.
    pub(crate) fn write(&self, page: u64, off: usize, data: &[u8]) -> Result<(), NotPresent> {
        self.store(page, off, Src::Bytes(data))
    }

    /// Writes a whole page whose bytes came from a committed page (a `read` that returned
    /// `true` for a full page), skipping the all-zero scan: such a page is non-zero.
    pub(crate) fn write_committed_page(&self, page: u64, data: &[u8]) -> Result<(), NotPresent> {
        debug_assert_eq!(data.len(), self.page_size);
        debug_assert!(!is_zero(data), "committed page {page:#x} is all zero");
        self.store(page, 0, Src::WholePage(data))
    }

    /// Sets `len` bytes at `off` within `page` to `value`.
    pub(crate) fn fill(
        &self,
        page: u64,
        off: usize,
        len: usize,
        value: u8,
    ) -> Result<(), NotPresent> {
        self.store(page, off, Src::Fill(value, len))
    }

    /// The one place a slot's bytes change: commits on the first non-zero byte and
    /// releases the slot when a zero write leaves the page all zero.
    fn store(&self, page: u64, off: usize, src: Src<'_>) -> Result<(), NotPresent> {
        debug_assert!(off + src.len() <= self.page_size);
        let zero = src.is_zero();
        let (g, i) = split(page);
        let mut guard = self.shard(g).write();
        let shard = &mut *guard;
        let explicit = self.presence == Presence::Explicit;
        let group = match shard.groups.entry(g) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(_) if explicit => return Err(NotPresent(page)),
            // Zeros into an uncommitted VRAM page: nothing to store.
            Entry::Vacant(_) if zero => return Ok(()),
            Entry::Vacant(v) => v.insert(Group::default()),
        };
        if explicit && group.present & bit(i) == 0 {
            return Err(NotPresent(page));
        }
        match &mut group.pages[i] {
            None if zero => {}
            slot @ None => {
                *slot = Some(self.commit(off, src));
                shard.committed += 1;
            }
            Some(data) => {
                src.apply(&mut data[off..off + src.len()]);
                if zero && is_zero(data) {
                    group.pages[i] = None;
                    shard.committed -= 1;
                    if group.is_reclaimable(self.presence) {
                        shard.groups.remove(&g);
                    }
                }
            }
        }
        Ok(())
    }

    /// A fresh page holding `src` at `off` and zeros elsewhere.
    fn commit(&self, off: usize, src: Src<'_>) -> Box<[u8]> {
        match src {
            // A whole-page write needs no zeroing first.
            Src::Bytes(d) | Src::WholePage(d) if d.len() == self.page_size => Box::from(d),
            Src::Fill(v, len) if len == self.page_size => vec![v; len].into_boxed_slice(),
            _ => {
                let mut data = vec![0u8; self.page_size].into_boxed_slice();
                src.apply(&mut data[off..off + src.len()]);
                data
            }
        }
    }

    /// Releases the committed slots of pages `[first, end)` within group `g` (pages must
    /// lie in that group); with `unpresent`, also makes them not present. Drops the
    /// group once empty.
    fn release_in_group(&self, shard: &mut Shard, g: u64, first: u64, end: u64, unpresent: bool) {
        let Some(group) = shard.groups.get_mut(&g) else {
            return;
        };
        for page in first..end {
            let (_, i) = split(page);
            if group.pages[i].take().is_some() {
                shard.committed -= 1;
            }
        }
        if unpresent {
            let mask = mask(first, end);
            debug_assert_eq!(group.present & mask, mask, "pages not present");
            shard.present -= u64::from((group.present & mask).count_ones());
            group.present &= !mask;
        }
        if group.is_reclaimable(self.presence) {
            shard.groups.remove(&g);
        }
    }

    /// Calls `f(group, first, end)` for each group overlapping pages `[first, first + count)`.
    fn for_each_group(first: u64, count: u64, mut f: impl FnMut(u64, u64, u64)) {
        let end = first.saturating_add(count);
        let mut page = first;
        while page < end {
            let g = page >> GROUP_SHIFT;
            let group_end = ((g + 1) << GROUP_SHIFT).min(end);
            f(g, page, group_end);
            page = group_end;
        }
    }

    /// Zeroes the whole pages `[first, first + count)`, releasing their memory.
    ///
    /// Costs O(min(count, committed pages) / GROUP_PAGES) table operations: a large range
    /// (at least [`SWEEP_MIN_PAGES`]) over a sparsely written store is cleared by walking
    /// the groups in the table instead of the range. Small ranges never pay for summing the
    /// shard counters. With [`Presence::Explicit`] the caller has checked that every page
    /// is present.
    pub(crate) fn zero_pages(&self, first: u64, count: u64) {
        let end = first.saturating_add(count);
        if count >= SWEEP_MIN_PAGES && count > self.committed_pages() {
            for shard in self.shards.iter() {
                let mut guard = shard.write();
                let shard = &mut *guard;
                let hit: Vec<u64> = shard
                    .groups
                    .keys()
                    .copied()
                    .filter(|&g| g << GROUP_SHIFT < end && (g + 1) << GROUP_SHIFT > first)
                    .collect();
                for g in hit {
                    let lo = (g << GROUP_SHIFT).max(first);
                    let hi = ((g + 1) << GROUP_SHIFT).min(end);
                    self.release_in_group(shard, g, lo, hi, false);
                }
            }
        } else {
            Self::for_each_group(first, count, |g, lo, hi| {
                let mut guard = self.shard(g).write();
                self.release_in_group(&mut guard, g, lo, hi, false);
            });
        }
    }

    /// True if `page` exists: always for implicit stores, while allocated for explicit ones.
    pub(crate) fn is_present(&self, page: u64) -> bool {
        if self.presence == Presence::Implicit {
            return true;
        }
        let (g, i) = split(page);
        self.shard(g)
            .read()
            .groups
            .get(&g)
            .is_some_and(|gr| gr.present & bit(i) != 0)
    }

    /// Makes pages `[first, first + count)` exist, reading as zero (explicit stores).
    ///
    /// # Complexity
    /// O(count / GROUP_PAGES + 1) table operations.
    pub(crate) fn insert_range(&self, first: u64, count: u64) {
        debug_assert_eq!(self.presence, Presence::Explicit);
        Self::for_each_group(first, count, |g, lo, hi| {
            let mut guard = self.shard(g).write();
            let shard = &mut *guard;
            let group = shard.groups.entry(g).or_default();
            let mask = mask(lo, hi);
            debug_assert_eq!(group.present & mask, 0, "pages inserted twice");
            shard.present += u64::from((mask & !group.present).count_ones());
            group.present |= mask;
        });
    }

    /// Removes pages `[first, first + count)` and their memory (explicit stores).
    ///
    /// # Complexity
    /// O(count) slot work, O(count / GROUP_PAGES + 1) table operations.
    pub(crate) fn remove_range(&self, first: u64, count: u64) {
        debug_assert_eq!(self.presence, Presence::Explicit);
        Self::for_each_group(first, count, |g, lo, hi| {
            let mut guard = self.shard(g).write();
            self.release_in_group(&mut guard, g, lo, hi, true);
        });
    }

    /// Number of present pages of an explicit store (0 for an implicit one).
    pub(crate) fn present_pages(&self) -> u64 {
        self.shards.iter().map(|s| s.read().present).sum()
    }

    /// Number of committed pages (summed over shards; exact when no write is in flight).
    pub(crate) fn committed_pages(&self) -> u64 {
        self.shards.iter().map(|s| s.read().committed).sum()
    }

    /// Bytes of committed page memory.
    pub(crate) fn committed_bytes(&self) -> u64 {
        // Lossless: page_size <= 64 KiB.
        self.committed_pages() * self.page_size as u64
    }

    /// Re-derives the per-shard counters and the group rules.
    ///
    /// # Errors
    /// A description of the first violation: a group in the wrong shard or empty, a
    /// counter that disagrees with the slots, a committed slot of the wrong size, all zero
    /// or not present.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (idx, shard) in self.shards.iter().enumerate() {
            let shard = shard.read();
            let (mut committed, mut present) = (0, 0);
            for (&g, group) in &shard.groups {
                if !core::ptr::eq(self.shard(g), &self.shards[idx]) {
                    return Err(format!("group {g:#x} stored in shard {idx}"));
                }
                if group.is_reclaimable(self.presence) {
                    return Err(format!("group {g:#x} is empty but kept"));
                }
                if self.presence == Presence::Implicit && group.present != 0 {
                    return Err(format!("group {g:#x} has presence bits in VRAM"));
                }
                present += u64::from(group.present.count_ones());
                for (i, slot) in group.pages.iter().enumerate() {
                    let page = (g << GROUP_SHIFT) + len_u64(i);
                    let Some(data) = slot else { continue };
                    if data.len() != self.page_size {
                        return Err(format!("page {page:#x} slot has {} bytes", data.len()));
                    }
                    if is_zero(data) {
                        return Err(format!("page {page:#x} committed but all zero"));
                    }
                    if self.presence == Presence::Explicit && group.present & bit(i) == 0 {
                        return Err(format!("page {page:#x} committed but not present"));
                    }
                    committed += 1;
                }
            }
            if (committed, present) != (shard.committed, shard.present) {
                return Err(format!(
                    "shard {idx} counts {}/{} committed/present pages, holds {committed}/{present}",
                    shard.committed, shard.present
                ));
            }
        }
        Ok(())
    }
}

/// One page-sized piece of a byte range: `len` bytes at `off` within `page`, which are
/// bytes `[pos, pos + len)` of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) page: u64,
    pub(crate) off: usize,
    pub(crate) len: usize,
    pub(crate) pos: usize,
}

/// Splits `[start, start + len)` at page boundaries. The caller has checked that the
/// range does not overflow.
pub(crate) fn pieces(start: u64, len: usize, page_shift: u32) -> impl Iterator<Item = Piece> {
    let page_size = 1u64 << page_shift;
    let mut pos = 0usize;
    core::iter::from_fn(move || {
        if pos >= len {
            return None;
        }
        // Lossless: buffer positions come from a usize length.
        let addr = start + pos as u64;
        let off = addr & (page_size - 1);
        // Lossless: both values are below the page size (<= 64 KiB).
        let len_here = ((page_size - off) as usize).min(len - pos);
        let piece = Piece {
            page: addr >> page_shift,
            off: off as usize,
            len: len_here,
            pos,
        };
        pos += len_here;
        Some(piece)
    })
}

/// Damage for tests of [`PageStore::check`].
#[cfg(test)]
impl PageStore {
    /// Skews shard 0's committed counter.
    pub(crate) fn corrupt_committed_counter(&self) {
        self.shards[0].write().committed += 1;
    }

    /// Commits an all-zero slot for `page` behind the store's back.
    pub(crate) fn corrupt_zero_slot(&self, page: u64) {
        let (g, i) = split(page);
        let mut guard = self.shard(g).write();
        let shard = &mut *guard;
        let group = shard.groups.entry(g).or_default();
        group.pages[i] = Some(vec![0u8; self.page_size].into_boxed_slice());
        shard.committed += 1;
    }
}
