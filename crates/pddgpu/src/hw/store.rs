//! Sparse, lazily committed page storage: the private core under VRAM and system memory.
//!
//! Memory is kept per page slot. A slot's bytes are *committed* (heap-allocated) only when a
//! non-zero byte is written into it, and released again as soon as a write or fill leaves
//! the whole page zero. Reading an uncommitted page yields zeros and commits nothing, so a
//! 4 GiB VRAM costs nothing until written.
//!
//! Two presence rules exist ([`Presence`]): in VRAM every page of the aperture exists and an
//! absent slot simply reads as zero; in system memory a slot exists exactly while its page
//! is allocated, and touching any other page is a fault ([`NotPresent`]).
//!
//! # Synchronization
//! Slots are spread over [`N_SHARDS`] shards by page index, each behind its own
//! `RwLock`. Every operation touches one page and holds one shard lock for at most one
//! page-sized `memcpy`; no code path ever holds two shard locks, so the store cannot
//! deadlock and transfers to different pages proceed in parallel.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use parking_lot::RwLock;

use super::vram::len_u64;

/// Number of shards; a power of two so the shard of a page is a mask.
const N_SHARDS: usize = 64;

/// Whether an absent slot is an all-zero page or a page that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Every page exists; absent slots read as zero (VRAM).
    Implicit,
    /// A page exists only between [`PageStore::insert_range`] and
    /// [`PageStore::remove_range`] (system memory).
    Explicit,
}

/// The page index touched does not exist (only with [`Presence::Explicit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotPresent(pub(crate) u64);

/// Hasher for page indices: one multiply-xorshift round (the splitmix64 finalizer) so that
/// the page indices of one shard, which share their low bits, still spread over the table.
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

/// A `HashMap` keyed by page index with [`PageHasher`].
pub(crate) type PageMap<V> = HashMap<u64, V, BuildHasherDefault<PageHasher>>;

/// One page slot: `None` while the page reads as zero and holds no memory (only present
/// in [`Presence::Explicit`] stores; implicit stores drop the slot instead).
type Slot = Option<Box<[u8]>>;

/// One shard of slots.
///
/// # Invariants
/// `committed` is the number of `Some` slots in `slots`; no `Some` slot is all zero
/// after a write or fill returns.
#[derive(Debug, Default)]
struct Shard {
    slots: PageMap<Slot>,
    committed: u64,
}

/// What a write stores into a page.
#[derive(Debug, Clone, Copy)]
enum Src<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// `len` copies of one byte value.
    Fill(u8, usize),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match *self {
            Src::Bytes(d) => d.len(),
            Src::Fill(_, len) => len,
        }
    }

    /// True if applying this source can only write zeros.
    fn is_zero(&self) -> bool {
        match *self {
            Src::Bytes(d) => is_zero(d),
            Src::Fill(v, _) => v == 0,
        }
    }

    fn apply(&self, dst: &mut [u8]) {
        match *self {
            Src::Bytes(d) => dst.copy_from_slice(d),
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

    fn shard(&self, page: u64) -> &RwLock<Shard> {
        // Lossless: the value is masked below N_SHARDS.
        let idx = (page & (N_SHARDS as u64 - 1)) as usize;
        &self.shards[idx]
    }

    /// Copies `buf.len()` bytes at `off` within `page` into `buf`.
    ///
    /// Returns whether the bytes came from committed memory (`false`: `buf` was zeroed).
    /// The caller keeps `off + buf.len() <= page_size`.
    pub(crate) fn read(&self, page: u64, off: usize, buf: &mut [u8]) -> Result<bool, NotPresent> {
        debug_assert!(off + buf.len() <= self.page_size);
        let shard = self.shard(page).read();
        match shard.slots.get(&page) {
            Some(Some(data)) => {
                buf.copy_from_slice(&data[off..off + buf.len()]);
                Ok(true)
            }
            Some(None) => {
                buf.fill(0);
                Ok(false)
            }
            None if self.presence == Presence::Implicit => {
                buf.fill(0);
                Ok(false)
            }
            None => Err(NotPresent(page)),
        }
    }

    /// Writes `data` at `off` within `page`, committing or releasing the slot as needed.
    pub(crate) fn write(&self, page: u64, off: usize, data: &[u8]) -> Result<(), NotPresent> {
        self.store(page, off, Src::Bytes(data))
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
        let mut guard = self.shard(page).write();
        let shard = &mut *guard;
        let release = match shard.slots.get_mut(&page) {
            None if self.presence == Presence::Explicit => return Err(NotPresent(page)),
            None | Some(None) if zero => false,
            None => {
                let data = self.commit(off, src);
                shard.slots.insert(page, Some(data));
                shard.committed += 1;
                false
            }
            Some(slot @ None) => {
                *slot = Some(self.commit(off, src));
                shard.committed += 1;
                false
            }
            Some(Some(data)) => {
                src.apply(&mut data[off..off + src.len()]);
                zero && is_zero(data)
            }
        };
        if release {
            Self::release(shard, page, self.presence);
        }
        Ok(())
    }

    /// A fresh zeroed page with `src` applied at `off`.
    fn commit(&self, off: usize, src: Src<'_>) -> Box<[u8]> {
        let mut data = vec![0u8; self.page_size].into_boxed_slice();
        src.apply(&mut data[off..off + src.len()]);
        data
    }

    /// The only way a committed slot gives its memory back.
    fn release(shard: &mut Shard, page: u64, presence: Presence) {
        let freed = match presence {
            Presence::Implicit => shard.slots.remove(&page).flatten().is_some(),
            Presence::Explicit => match shard.slots.get_mut(&page) {
                Some(slot) => slot.take().is_some(),
                None => false,
            },
        };
        if freed {
            shard.committed -= 1;
        }
    }

    /// Zeroes the whole pages `[first, first + count)`, releasing their memory.
    ///
    /// Costs O(min(count, committed pages)): a large range over a sparsely written store
    /// is cleared by walking the committed slots instead of the range. With
    /// [`Presence::Explicit`] the caller has checked that every page is present.
    pub(crate) fn zero_pages(&self, first: u64, count: u64) {
        let end = first.saturating_add(count);
        if count > self.committed_pages() {
            for shard in self.shards.iter() {
                let mut guard = shard.write();
                let shard = &mut *guard;
                let mut freed = 0;
                for (page, slot) in shard.slots.iter_mut() {
                    if (first..end).contains(page) && slot.take().is_some() {
                        freed += 1;
                    }
                }
                if self.presence == Presence::Implicit {
                    shard.slots.retain(|_, slot| slot.is_some());
                }
                shard.committed -= freed;
            }
        } else {
            for page in first..end {
                let mut guard = self.shard(page).write();
                Self::release(&mut guard, page, self.presence);
            }
        }
    }

    /// True if `page` exists: always for implicit stores, while allocated for explicit ones.
    pub(crate) fn is_present(&self, page: u64) -> bool {
        self.presence == Presence::Implicit || self.shard(page).read().slots.contains_key(&page)
    }

    /// Makes pages `[first, first + count)` exist, reading as zero (explicit stores).
    pub(crate) fn insert_range(&self, first: u64, count: u64) {
        debug_assert_eq!(self.presence, Presence::Explicit);
        for page in first..first.saturating_add(count) {
            let prev = self.shard(page).write().slots.insert(page, None);
            debug_assert!(prev.is_none(), "page {page:#x} inserted twice");
        }
    }

    /// Removes pages `[first, first + count)` and their memory (explicit stores).
    pub(crate) fn remove_range(&self, first: u64, count: u64) {
        debug_assert_eq!(self.presence, Presence::Explicit);
        for page in first..first.saturating_add(count) {
            let mut guard = self.shard(page).write();
            let removed = guard.slots.remove(&page);
            debug_assert!(removed.is_some(), "page {page:#x} removed but not present");
            if let Some(Some(_)) = removed {
                guard.committed -= 1;
            }
        }
    }

    /// Number of pages with a slot: the allocated pages of an explicit store, the
    /// committed pages of an implicit one.
    pub(crate) fn present_pages(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| len_u64(s.read().slots.len()))
            .sum()
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

    /// Re-derives the per-shard counters and slot rules.
    ///
    /// # Errors
    /// A description of the first violation: a slot in the wrong shard, a counter that
    /// disagrees with the slots, a committed slot of the wrong size or all zero, or an
    /// empty slot kept in an implicit store.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (idx, shard) in self.shards.iter().enumerate() {
            let shard = shard.read();
            let mut committed = 0;
            for (&page, slot) in &shard.slots {
                if !core::ptr::eq(self.shard(page), &self.shards[idx]) {
                    return Err(format!("page {page:#x} stored in shard {idx}"));
                }
                match slot {
                    Some(data) if data.len() != self.page_size => {
                        return Err(format!("page {page:#x} slot has {} bytes", data.len()));
                    }
                    Some(data) if is_zero(data) => {
                        return Err(format!("page {page:#x} committed but all zero"));
                    }
                    Some(_) => committed += 1,
                    None if self.presence == Presence::Implicit => {
                        return Err(format!("page {page:#x} has an empty slot in VRAM"));
                    }
                    None => {}
                }
            }
            if committed != shard.committed {
                return Err(format!(
                    "shard {idx} counts {} committed pages, holds {committed}",
                    shard.committed
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
