//! LRU lists and usage accounting, all under the device's single LRU lock.
//!
//! Every live resource sits on exactly one list: its manager's list for the BO's
//! priority, or the device-wide unevictable list while its BO is pinned. Lists are
//! ordered by a device-wide sequence number, least recently used first; moving a
//! resource to the tail gives it a fresh, larger number. An eviction walk remembers
//! the (priority, sequence) it reached, so it survives dropping the lock between
//! victims — the role of upstream's LRU "hitch" cursor — and sees a bumped resource
//! again at its new position, as upstream does.
//!
//! Usage (bytes per memory type) is kept here too, so counters and lists change
//! under one lock (STYLE anti-pattern 12).

use std::collections::BTreeMap;
use std::sync::Weak;

use crate::bo::BoCore;
use crate::error::{CheckError, Error, Result};
use crate::placement::{MemType, MAX_BO_PRIORITY, NUM_MEM_TYPES};

const N_PRIO: usize = MAX_BO_PRIORITY as usize;

/// Which list a resource is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKey {
    Lru { mem_type: MemType, priority: u8 },
    Unevictable,
}

/// Where a resource is and what it is charged.
#[derive(Debug, Clone, Copy)]
struct Pos {
    mem_type: MemType,
    list: ListKey,
    seq: u64,
    size: u64,
}

/// Positions of live resources, indexed by resource id.
///
/// A slab: the id is `generation << 32 | index`, so ids of freed slots are never
/// handed out again while lookups stay a bounds check away (no hashing).
///
/// # Invariants
/// `free` lists exactly the indices whose `pos` is `None`; `len` counts the others.
#[derive(Debug, Default)]
struct PosTable {
    slots: Vec<(u32, Option<Pos>)>,
    free: Vec<u32>,
    len: usize,
}

impl PosTable {
    fn split(id: u64) -> (u32, usize) {
        // The high half is the generation, the low half the index.
        ((id >> 32) as u32, (id & u64::from(u32::MAX)) as usize)
    }

    fn insert(&mut self, pos: Pos) -> Result<u64> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).map_err(|_| Error::OutOfMemory)?;
                self.slots.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                self.slots.push((0, None));
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.0 = slot.0.wrapping_add(1);
        slot.1 = Some(pos);
        self.len += 1;
        Ok((u64::from(slot.0) << 32) | u64::from(index))
    }

    fn get(&self, id: u64) -> Option<&Pos> {
        let (generation, index) = Self::split(id);
        match self.slots.get(index) {
            Some((g, Some(pos))) if *g == generation => Some(pos),
            _ => None,
        }
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Pos> {
        let (generation, index) = Self::split(id);
        match self.slots.get_mut(index) {
            Some((g, Some(pos))) if *g == generation => Some(pos),
            _ => None,
        }
    }

    fn remove(&mut self, id: u64) -> Option<Pos> {
        let (generation, index) = Self::split(id);
        match self.slots.get_mut(index) {
            Some((g, pos @ Some(_))) if *g == generation => {
                let pos = pos.take();
                self.free.push(index as u32);
                self.len -= 1;
                pos
            }
            _ => None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u64, &Pos)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, (g, pos))| pos.as_ref().map(|p| ((u64::from(*g) << 32) | i as u64, p)))
    }
}

/// One LRU entry: the resource id and a weak link to its BO (upstream `res->bo`).
#[derive(Debug, Clone)]
pub(crate) struct LruItem {
    pub(crate) res_id: u64,
    pub(crate) bo_id: u64,
    pub(crate) bo: Weak<BoCore>,
}

/// A walk position: the last (priority, sequence) returned.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LruCursor {
    at: Option<(u8, u64)>,
}

/// The state behind the device LRU lock.
///
/// # Invariants
/// `pos` has one entry per live resource; each entry's `seq` keys that resource in
/// exactly the list named by `list`; `usage[t]` = Σ `size` over entries of type `t`
/// + `reserved[t]`.
#[derive(Debug)]
pub(crate) struct LruState {
    next_seq: u64,
    usage: [u64; NUM_MEM_TYPES],
    reserved: [u64; NUM_MEM_TYPES],
    lists: [[BTreeMap<u64, LruItem>; N_PRIO]; NUM_MEM_TYPES],
    unevictable: BTreeMap<u64, LruItem>,
    pos: PosTable,
}

impl LruState {
    pub(crate) fn new() -> LruState {
        LruState {
            next_seq: 0,
            usage: [0; NUM_MEM_TYPES],
            reserved: [0; NUM_MEM_TYPES],
            lists: Default::default(),
            unevictable: BTreeMap::new(),
            pos: PosTable::default(),
        }
    }

    fn list_mut(&mut self, key: ListKey) -> &mut BTreeMap<u64, LruItem> {
        match key {
            ListKey::Lru { mem_type, priority } => {
                &mut self.lists[mem_type.index()][usize::from(priority)]
            }
            ListKey::Unevictable => &mut self.unevictable,
        }
    }

    fn key_for(mem_type: MemType, priority: u8, pinned: bool) -> ListKey {
        if pinned {
            ListKey::Unevictable
        } else {
            ListKey::Lru {
                mem_type,
                priority: priority.min(MAX_BO_PRIORITY - 1),
            }
        }
    }

    fn bump_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// `ttm_resource_init`: a new resource id, charged and at the tail of its list.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the usage would overflow.
    pub(crate) fn init(
        &mut self,
        bo: Weak<BoCore>,
        bo_id: u64,
        mem_type: MemType,
        priority: u8,
        pinned: bool,
        size: u64,
    ) -> Result<u64> {
        let usage = self.usage[mem_type.index()]
            .checked_add(size)
            .ok_or(Error::InvalidArgument)?;
        let seq = self.bump_seq();
        let list = Self::key_for(mem_type, priority, pinned);
        let res_id = self.pos.insert(Pos {
            mem_type,
            list,
            seq,
            size,
        })?;
        self.usage[mem_type.index()] = usage;
        self.list_mut(list)
            .insert(seq, LruItem { res_id, bo_id, bo });
        Ok(res_id)
    }

    /// `ttm_resource_fini`: off its list, uncharged. Unknown ids are ignored.
    pub(crate) fn fini(&mut self, res_id: u64) {
        if let Some(pos) = self.pos.remove(res_id) {
            self.list_mut(pos.list).remove(&pos.seq);
            let u = &mut self.usage[pos.mem_type.index()];
            *u = u.saturating_sub(pos.size);
        }
    }

    /// `ttm_resource_move_to_lru_tail`: most recently used on the list its BO's
    /// state selects.
    pub(crate) fn move_to_tail(&mut self, res_id: u64, priority: u8, pinned: bool) {
        let Some(pos) = self.pos.get(res_id).copied() else {
            return;
        };
        let Some(item) = self.list_mut(pos.list).remove(&pos.seq) else {
            return;
        };
        let seq = self.bump_seq();
        let list = Self::key_for(pos.mem_type, priority, pinned);
        self.list_mut(list).insert(seq, item);
        if let Some(p) = self.pos.get_mut(res_id) {
            *p = Pos { list, seq, ..pos };
        }
    }

    pub(crate) fn usage(&self, mem_type: MemType) -> u64 {
        self.usage[mem_type.index()]
    }

    pub(crate) fn charge_reserved(&mut self, mem_type: MemType, bytes: u64) -> Result<()> {
        let i = mem_type.index();
        let usage = self.usage[i]
            .checked_add(bytes)
            .ok_or(Error::InvalidArgument)?;
        self.usage[i] = usage;
        self.reserved[i] += bytes;
        Ok(())
    }

    pub(crate) fn uncharge_reserved(&mut self, mem_type: MemType, bytes: u64) -> Result<()> {
        let i = mem_type.index();
        if self.reserved[i] < bytes {
            return Err(Error::InvalidArgument);
        }
        self.reserved[i] -= bytes;
        self.usage[i] -= bytes;
        Ok(())
    }

    /// Number of live resources of `mem_type`, pinned ones included.
    pub(crate) fn n_resources(&self, mem_type: MemType) -> usize {
        self.pos
            .iter()
            .filter(|(_, p)| p.mem_type == mem_type)
            .count()
    }

    /// The next entry of `mem_type`'s lists after `cursor`: priority 0 → 3, each
    /// list least recently used first. Advances the cursor.
    pub(crate) fn next(&self, mem_type: MemType, cursor: &mut LruCursor) -> Option<LruItem> {
        let (start_prio, after) = match cursor.at {
            Some((p, s)) => (p, Some(s)),
            None => (0, None),
        };
        for prio in start_prio..MAX_BO_PRIORITY {
            let list = &self.lists[mem_type.index()][usize::from(prio)];
            let found = match after {
                Some(s) if prio == start_prio => list.range(s + 1..).next(),
                _ => list.iter().next(),
            };
            if let Some((&seq, item)) = found {
                cursor.at = Some((prio, seq));
                return Some(item.clone());
            }
        }
        None
    }

    /// The BO ids of `mem_type`'s lists in walk order (tests and dumps).
    pub(crate) fn order(&self, mem_type: MemType) -> Vec<u64> {
        self.lists[mem_type.index()]
            .iter()
            .flat_map(|l| l.values().map(|i| i.bo_id))
            .collect()
    }

    /// The BO ids on the unevictable list, oldest first.
    pub(crate) fn unevictable_order(&self) -> Vec<u64> {
        self.unevictable.values().map(|i| i.bo_id).collect()
    }

    /// Re-derives the invariants documented on the type.
    pub(crate) fn check(&self) -> core::result::Result<(), CheckError> {
        let mut usage = self.reserved;
        let mut listed = 0usize;
        for (res_id, pos) in self.pos.iter() {
            let list = match pos.list {
                ListKey::Lru { mem_type, priority } => {
                    if mem_type != pos.mem_type {
                        return Err(CheckError(format!(
                            "resource {res_id} of {:?} on the {mem_type:?} LRU",
                            pos.mem_type
                        )));
                    }
                    &self.lists[mem_type.index()][usize::from(priority)]
                }
                ListKey::Unevictable => &self.unevictable,
            };
            match list.get(&pos.seq) {
                Some(item) if item.res_id == res_id => {}
                _ => {
                    return Err(CheckError(format!(
                        "resource {res_id} not at sequence {} of its list",
                        pos.seq
                    )))
                }
            }
            let u = &mut usage[pos.mem_type.index()];
            *u = u
                .checked_add(pos.size)
                .ok_or_else(|| CheckError("usage overflows".into()))?;
        }
        for t in &self.lists {
            listed += t.iter().map(BTreeMap::len).sum::<usize>();
        }
        listed += self.unevictable.len();
        let used = self.pos.slots.iter().filter(|(_, p)| p.is_some()).count();
        if used != self.pos.len || self.pos.len + self.pos.free.len() != self.pos.slots.len() {
            return Err(CheckError(format!(
                "resource table: {used} used, count {}, {} free of {} slots",
                self.pos.len,
                self.pos.free.len(),
                self.pos.slots.len()
            )));
        }
        if listed != self.pos.len {
            return Err(CheckError(format!(
                "{listed} LRU entries for {} live resources",
                self.pos.len
            )));
        }
        if usage != self.usage {
            return Err(CheckError(format!(
                "usage {:?} but live resources and reservations sum to {usage:?}",
                self.usage
            )));
        }
        Ok(())
    }
}
