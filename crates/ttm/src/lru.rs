//! LRU lists and usage accounting, all under the device's single LRU lock.
//!
//! Every live resource sits on exactly one list: its manager's list for the BO's
//! priority, or the device-wide unevictable list while its BO is pinned. Lists are
//! doubly linked through a slab of nodes (upstream's `list_head` in `ttm_resource`),
//! least recently used at the head; moving a resource to the tail relinks it in O(1)
//! without touching the allocator.
//!
//! An eviction walk keeps its place with a *hitch*: a node of its own linked into the
//! list right after the entry it returned last (upstream's `ttm_resource_cursor`
//! hitch). The walk survives dropping the lock between victims, and a resource bumped
//! to the tail while the walk is past it is seen again at its new position, as
//! upstream. Walks on other lists skip foreign hitches.
//!
//! Usage (bytes per memory type) is kept here too, so counters and lists change
//! under one lock (STYLE anti-pattern 12).
//!
//! # Costs
//! Charging, uncharging and bumping a resource are O(1) with no allocation once the
//! slab has grown to the number of live resources; a walk step is O(1) plus the
//! foreign hitches it skips.

use std::sync::Weak;

use crate::bo::BoCore;
use crate::error::{CheckError, Error, Result};
use crate::placement::{MemType, MAX_BO_PRIORITY, NUM_MEM_TYPES};

const N_PRIO: usize = MAX_BO_PRIORITY as usize;

/// The "no node" link.
const NIL: u32 = u32::MAX;

/// A slab index as a `Vec` index (u32 always fits in usize on supported targets).
fn ix(i: u32) -> usize {
    i as usize
}

/// Which list a node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKey {
    Lru { mem_type: MemType, priority: u8 },
    Unevictable,
}

/// One LRU entry: the resource id and a weak link to its BO (upstream `res->bo`).
#[derive(Debug, Clone)]
pub(crate) struct LruItem {
    pub(crate) res_id: u64,
    pub(crate) bo_id: u64,
    pub(crate) bo: Weak<BoCore>,
}

/// What a slab slot holds.
#[derive(Debug)]
enum NodeKind {
    /// Unused; the slot index is on the free list.
    Vacant,
    /// A live resource, charged `size` bytes to `mem_type`, linked on `list`.
    Resource {
        mem_type: MemType,
        list: ListKey,
        size: u64,
        item: LruItem,
    },
    /// A walk's cursor, linked on `list` once the walk returned an entry.
    Hitch { list: Option<ListKey> },
}

/// A slab slot: the generation (so ids of freed slots never match again) and the
/// links of the list the node is on (`NIL` when unlinked).
#[derive(Debug)]
struct Node {
    generation: u32,
    prev: u32,
    next: u32,
    kind: NodeKind,
}

/// Head and tail of one list (`NIL` when empty).
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> List {
        List {
            head: NIL,
            tail: NIL,
        }
    }
}

/// A walk position over one memory type's lists (priority 0 → 3, least recently used
/// first). Created by [`LruState::cursor_init`], released by
/// [`LruState::cursor_fini`]; [`LruWalk`](crate::device::LruWalk) does both.
#[derive(Debug)]
pub(crate) struct LruCursor {
    mem_type: MemType,
    /// The hitch node's id.
    hitch: u64,
}

/// The state behind the device LRU lock.
///
/// # Invariants
/// Every `Resource` node is linked on exactly the list its `list` names, and every
/// hitch with `list: Some(_)` on that list; `prev`/`next` links agree and each list's
/// `head`/`tail` end them. `free` lists exactly the `Vacant` slots. `count[t]` is the
/// number of resource nodes of type `t`, and `usage[t]` = Σ their `size` +
/// `reserved[t]`.
#[derive(Debug)]
pub(crate) struct LruState {
    usage: [u64; NUM_MEM_TYPES],
    reserved: [u64; NUM_MEM_TYPES],
    count: [usize; NUM_MEM_TYPES],
    lists: [[List; N_PRIO]; NUM_MEM_TYPES],
    unevictable: List,
    nodes: Vec<Node>,
    free: Vec<u32>,
}

impl LruState {
    pub(crate) fn new() -> LruState {
        LruState {
            usage: [0; NUM_MEM_TYPES],
            reserved: [0; NUM_MEM_TYPES],
            count: [0; NUM_MEM_TYPES],
            lists: Default::default(),
            unevictable: List::default(),
            nodes: Vec::new(),
            free: Vec::new(),
        }
    }

    // --- slab ----------------------------------------------------------------------

    fn split(id: u64) -> (u32, u32) {
        // The high half is the generation, the low half the index.
        ((id >> 32) as u32, (id & u64::from(u32::MAX)) as u32)
    }

    /// Takes a slot for `kind`, unlinked; returns its id. Grows the slab fallibly.
    fn alloc_node(&mut self, kind: NodeKind) -> Result<u64> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .ok_or(Error::OutOfMemory)?;
                self.nodes.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
                // Room for every slot on the free list, so freeing never allocates.
                self.free
                    .try_reserve(self.nodes.len() + 1 - self.free.len())
                    .map_err(|_| Error::OutOfMemory)?;
                self.nodes.push(Node {
                    generation: 0,
                    prev: NIL,
                    next: NIL,
                    kind: NodeKind::Vacant,
                });
                i
            }
        };
        let node = &mut self.nodes[ix(index)];
        node.generation = node.generation.wrapping_add(1);
        node.prev = NIL;
        node.next = NIL;
        node.kind = kind;
        Ok((u64::from(node.generation) << 32) | u64::from(index))
    }

    /// Frees an unlinked slot.
    fn free_node(&mut self, index: u32) {
        self.nodes[ix(index)].kind = NodeKind::Vacant;
        self.free.push(index);
    }

    /// The slot index of a live id (resource or hitch), `None` for stale ids.
    fn lookup(&self, id: u64) -> Option<u32> {
        let (generation, index) = Self::split(id);
        match self.nodes.get(ix(index)) {
            Some(n) if n.generation == generation && !matches!(n.kind, NodeKind::Vacant) => {
                Some(index)
            }
            _ => None,
        }
    }

    // --- lists ---------------------------------------------------------------------

    fn list_mut(&mut self, key: ListKey) -> &mut List {
        match key {
            ListKey::Lru { mem_type, priority } => {
                &mut self.lists[mem_type.index()][usize::from(priority)]
            }
            ListKey::Unevictable => &mut self.unevictable,
        }
    }

    fn list(&self, key: ListKey) -> List {
        match key {
            ListKey::Lru { mem_type, priority } => {
                self.lists[mem_type.index()][usize::from(priority)]
            }
            ListKey::Unevictable => self.unevictable,
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

    /// Unlinks node `i` from `key`'s list.
    fn unlink(&mut self, key: ListKey, i: u32) {
        let (prev, next) = {
            let n = &mut self.nodes[ix(i)];
            let links = (n.prev, n.next);
            n.prev = NIL;
            n.next = NIL;
            links
        };
        if prev == NIL {
            self.list_mut(key).head = next;
        } else {
            self.nodes[ix(prev)].next = next;
        }
        if next == NIL {
            self.list_mut(key).tail = prev;
        } else {
            self.nodes[ix(next)].prev = prev;
        }
    }

    /// Links the unlinked node `i` at the tail of `key`'s list.
    fn link_tail(&mut self, key: ListKey, i: u32) {
        let tail = self.list(key).tail;
        {
            let n = &mut self.nodes[ix(i)];
            n.prev = tail;
            n.next = NIL;
        }
        if tail == NIL {
            self.list_mut(key).head = i;
        } else {
            self.nodes[ix(tail)].next = i;
        }
        self.list_mut(key).tail = i;
    }

    /// Links the unlinked node `i` right after node `at` of `key`'s list.
    fn link_after(&mut self, key: ListKey, at: u32, i: u32) {
        let next = self.nodes[ix(at)].next;
        {
            let n = &mut self.nodes[ix(i)];
            n.prev = at;
            n.next = next;
        }
        self.nodes[ix(at)].next = i;
        if next == NIL {
            self.list_mut(key).tail = i;
        } else {
            self.nodes[ix(next)].prev = i;
        }
    }

    // --- resources -----------------------------------------------------------------

    /// `ttm_resource_init`: a new resource id, charged and at the tail of its list.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the usage would overflow; [`Error::OutOfMemory`]
    /// if the slab cannot grow. Nothing changes on error.
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
        let list = Self::key_for(mem_type, priority, pinned);
        let res_id = self.alloc_node(NodeKind::Resource {
            mem_type,
            list,
            size,
            item: LruItem {
                res_id: 0,
                bo_id,
                bo,
            },
        })?;
        let (_, index) = Self::split(res_id);
        if let NodeKind::Resource { item, .. } = &mut self.nodes[ix(index)].kind {
            item.res_id = res_id;
        }
        self.link_tail(list, index);
        self.usage[mem_type.index()] = usage;
        self.count[mem_type.index()] += 1;
        Ok(res_id)
    }

    /// `ttm_resource_fini`: off its list, uncharged. Unknown ids are ignored.
    pub(crate) fn fini(&mut self, res_id: u64) {
        let Some(index) = self.lookup(res_id) else {
            return;
        };
        let NodeKind::Resource {
            mem_type,
            list,
            size,
            ..
        } = self.nodes[ix(index)].kind
        else {
            return;
        };
        self.unlink(list, index);
        let u = &mut self.usage[mem_type.index()];
        *u = u.saturating_sub(size);
        self.count[mem_type.index()] -= 1;
        self.free_node(index);
    }

    /// `ttm_resource_move_to_lru_tail`: most recently used on the list its BO's
    /// state selects. O(1); a resource already last on that list stays put.
    pub(crate) fn move_to_tail(&mut self, res_id: u64, priority: u8, pinned: bool) {
        let Some(index) = self.lookup(res_id) else {
            return;
        };
        let node = &self.nodes[ix(index)];
        let NodeKind::Resource { mem_type, list, .. } = node.kind else {
            return;
        };
        let key = Self::key_for(mem_type, priority, pinned);
        if key == list && node.next == NIL {
            return;
        }
        self.unlink(list, index);
        self.link_tail(key, index);
        if let NodeKind::Resource { list, .. } = &mut self.nodes[ix(index)].kind {
            *list = key;
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

    /// Number of live resources of `mem_type`, pinned ones included. O(1).
    pub(crate) fn n_resources(&self, mem_type: MemType) -> usize {
        self.count[mem_type.index()]
    }

    // --- walks ---------------------------------------------------------------------

    /// Starts a walk over `mem_type`'s lists: allocates its hitch (unlinked until the
    /// first entry is returned).
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if the slab cannot grow.
    pub(crate) fn cursor_init(&mut self, mem_type: MemType) -> Result<LruCursor> {
        let hitch = self.alloc_node(NodeKind::Hitch { list: None })?;
        Ok(LruCursor { mem_type, hitch })
    }

    /// Ends a walk: unlinks and frees its hitch.
    pub(crate) fn cursor_fini(&mut self, cursor: &LruCursor) {
        let Some(h) = self.lookup(cursor.hitch) else {
            return;
        };
        if let NodeKind::Hitch { list } = self.nodes[ix(h)].kind {
            if let Some(key) = list {
                self.unlink(key, h);
            }
            self.free_node(h);
        }
    }

    /// The next entry of the walk: priority 0 → 3, each list least recently used
    /// first, continuing after the entry returned last (the hitch). Moves the hitch
    /// after the returned entry. At the end the hitch stays where it is, so entries
    /// added later behind it are still found by another call.
    pub(crate) fn next(&mut self, cursor: &LruCursor) -> Option<LruItem> {
        let h = self.lookup(cursor.hitch)?;
        let NodeKind::Hitch { list: hitched } = self.nodes[ix(h)].kind else {
            return None;
        };
        let mt = cursor.mem_type;
        let (mut prio, mut at) = match hitched {
            Some(ListKey::Lru { priority, .. }) => (usize::from(priority), self.nodes[ix(h)].next),
            _ => (0, self.lists[mt.index()][0].head),
        };
        loop {
            while at != NIL {
                if let NodeKind::Resource { item, .. } = &self.nodes[ix(at)].kind {
                    let item = item.clone();
                    let key = ListKey::Lru {
                        mem_type: mt,
                        // `prio` < N_PRIO = MAX_BO_PRIORITY, a u8.
                        priority: prio as u8,
                    };
                    if let Some(old) = hitched {
                        self.unlink(old, h);
                    }
                    self.link_after(key, at, h);
                    self.nodes[ix(h)].kind = NodeKind::Hitch { list: Some(key) };
                    return Some(item);
                }
                // Another walk's hitch.
                at = self.nodes[ix(at)].next;
            }
            prio += 1;
            if prio == N_PRIO {
                return None;
            }
            at = self.lists[mt.index()][prio].head;
        }
    }

    // --- queries and checks --------------------------------------------------------

    /// The BO ids on `key`'s list, head first (hitches skipped).
    fn list_bo_ids(&self, key: ListKey, out: &mut Vec<u64>) {
        let mut at = self.list(key).head;
        while at != NIL {
            let n = &self.nodes[ix(at)];
            if let NodeKind::Resource { item, .. } = &n.kind {
                out.push(item.bo_id);
            }
            at = n.next;
        }
    }

    /// The BO ids of `mem_type`'s lists in walk order (tests and dumps).
    pub(crate) fn order(&self, mem_type: MemType) -> Vec<u64> {
        let mut out = Vec::new();
        for priority in 0..MAX_BO_PRIORITY {
            self.list_bo_ids(ListKey::Lru { mem_type, priority }, &mut out);
        }
        out
    }

    /// The BO ids on the unevictable list, oldest first.
    pub(crate) fn unevictable_order(&self) -> Vec<u64> {
        let mut out = Vec::new();
        self.list_bo_ids(ListKey::Unevictable, &mut out);
        out
    }

    /// Walks `key`'s list checking links and membership; returns its resource nodes.
    fn check_list(
        &self,
        key: ListKey,
        usage: &mut [u64; NUM_MEM_TYPES],
        count: &mut [usize; NUM_MEM_TYPES],
    ) -> core::result::Result<usize, CheckError> {
        let list = self.list(key);
        let mut prev = NIL;
        let mut at = list.head;
        let mut steps = 0usize;
        let mut resources = 0usize;
        while at != NIL {
            steps += 1;
            let n = self
                .nodes
                .get(ix(at))
                .filter(|_| steps <= self.nodes.len())
                .ok_or_else(|| CheckError(format!("{key:?} list: bad link or cycle at {at}")))?;
            if n.prev != prev {
                return Err(CheckError(format!(
                    "{key:?} list: node {at} links back to {} instead of {prev}",
                    n.prev
                )));
            }
            match &n.kind {
                NodeKind::Resource {
                    mem_type,
                    list,
                    size,
                    item,
                } => {
                    if *list != key {
                        return Err(CheckError(format!(
                            "resource {} on the {key:?} list but recorded on {list:?}",
                            item.res_id
                        )));
                    }
                    if let ListKey::Lru { mem_type: lt, .. } = key {
                        if lt != *mem_type {
                            return Err(CheckError(format!(
                                "resource {} of {mem_type:?} on the {lt:?} LRU",
                                item.res_id
                            )));
                        }
                    }
                    if item.res_id & u64::from(u32::MAX) != u64::from(at)
                        || item.res_id >> 32 != u64::from(n.generation)
                    {
                        return Err(CheckError(format!(
                            "resource {} stored in slot {at}",
                            item.res_id
                        )));
                    }
                    let u = &mut usage[mem_type.index()];
                    *u = u
                        .checked_add(*size)
                        .ok_or_else(|| CheckError("usage overflows".into()))?;
                    count[mem_type.index()] += 1;
                    resources += 1;
                }
                NodeKind::Hitch { list } => {
                    if *list != Some(key) {
                        return Err(CheckError(format!(
                            "walk hitch {at} on the {key:?} list but recorded on {list:?}"
                        )));
                    }
                }
                NodeKind::Vacant => {
                    return Err(CheckError(format!("{key:?} list: vacant slot {at} linked")));
                }
            }
            prev = at;
            at = n.next;
        }
        if list.tail != prev {
            return Err(CheckError(format!(
                "{key:?} list ends at {prev} but its tail is {}",
                list.tail
            )));
        }
        Ok(resources)
    }

    /// Re-derives the invariants documented on the type.
    pub(crate) fn check(&self) -> core::result::Result<(), CheckError> {
        let mut usage = self.reserved;
        let mut count = [0usize; NUM_MEM_TYPES];
        let mut listed = 0usize;
        for mem_type in MemType::all() {
            for priority in 0..MAX_BO_PRIORITY {
                let key = ListKey::Lru { mem_type, priority };
                listed += self.check_list(key, &mut usage, &mut count)?;
            }
        }
        listed += self.check_list(ListKey::Unevictable, &mut usage, &mut count)?;
        let resources = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Resource { .. }))
            .count();
        if listed != resources {
            return Err(CheckError(format!(
                "{listed} LRU entries for {resources} live resources"
            )));
        }
        let vacant = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Vacant))
            .count();
        let free_ok = self.free.iter().all(
            |&i| matches!(self.nodes.get(ix(i)), Some(n) if matches!(n.kind, NodeKind::Vacant)),
        );
        if vacant != self.free.len() || !free_ok {
            return Err(CheckError(format!(
                "resource table: {vacant} vacant slots, {} on the free list of {} slots",
                self.free.len(),
                self.nodes.len()
            )));
        }
        if count != self.count {
            return Err(CheckError(format!(
                "resource counts {:?} but the lists hold {count:?}",
                self.count
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
