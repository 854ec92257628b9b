//! The registry of live allocations: a generational slab.

use core::fmt;

use super::Error;

/// Identifies one live allocation inside its manager.
///
/// A slot index plus the slot's generation, so an id that was freed and whose slot was
/// reused no longer matches. Ids are only meaningful to the manager that issued them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AllocId {
    index: u32,
    generation: u32,
}

impl fmt::Debug for AllocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllocId({}v{})", self.index, self.generation)
    }
}

impl fmt::Display for AllocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)
    }
}

/// A slot index as a `Vec` index. Indices are created from `slots.len()`, so they always
/// fit; on a (hypothetical) target where `usize` were narrower the lookup just misses.
fn slot(index: u32) -> usize {
    usize::try_from(index).unwrap_or(usize::MAX)
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Live allocations of one manager, indexed by [`AllocId`].
///
/// # Invariants
///
/// `free` lists exactly the slots whose `value` is `None`; `live` counts the others.
///
/// # Complexity
///
/// Insert, remove and lookup O(1) (amortised for insert); iteration O(slots).
#[derive(Debug)]
pub(crate) struct Registry<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<T> Registry<T> {
    /// Makes sure the next [`Registry::insert`] needs no allocation.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] if the slab cannot grow; nothing changes then.
    pub(crate) fn reserve(&mut self) -> Result<(), Error> {
        if !self.free.is_empty() {
            return Ok(());
        }
        u32::try_from(self.slots.len()).map_err(|_| Error::OutOfMemory)?;
        self.slots.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
        // Room for every slot in the free list, so that `remove` never allocates.
        let want = self.slots.len() + 1;
        self.free
            .try_reserve(want.saturating_sub(self.free.len()))
            .map_err(|_| Error::OutOfMemory)?;
        Ok(())
    }

    /// Stores `value`; its id is returned. Call [`Registry::reserve`] first: then this
    /// does not allocate.
    pub(crate) fn insert(&mut self, value: T) -> AllocId {
        if let Some(index) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(slot(index)) {
                slot.value = Some(value);
                self.live += 1;
                return AllocId {
                    index,
                    generation: slot.generation,
                };
            }
        }
        // `reserve` checked that the index fits in u32.
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        self.live += 1;
        AllocId {
            index,
            generation: 0,
        }
    }

    /// Removes and returns the value of `id`, or `None` if `id` is not live.
    pub(crate) fn remove(&mut self, id: AllocId) -> Option<T> {
        let slot = self.slots.get_mut(slot(id.index))?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        // Capacity was reserved at insert time.
        self.free.push(id.index);
        self.live -= 1;
        Some(value)
    }

    /// The value of `id`, if live, mutably.
    pub(crate) fn get_mut(&mut self, id: AllocId) -> Option<&mut T> {
        let slot = self.slots.get_mut(slot(id.index))?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Live entries in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (AllocId, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let index = u32::try_from(i).ok()?;
            s.value.as_ref().map(|v| {
                (
                    AllocId {
                        index,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }

    /// Re-derives `live` and the free list; describes the first disagreement.
    pub(crate) fn check(&self) -> Result<(), String> {
        let live = self.slots.iter().filter(|s| s.value.is_some()).count();
        if live != self.live {
            return Err(format!(
                "registry counts {} live entries, slots hold {live}",
                self.live
            ));
        }
        if self.free.len() + live != self.slots.len() {
            return Err(format!(
                "registry free list has {} entries for {} empty slots",
                self.free.len(),
                self.slots.len() - live
            ));
        }
        for &i in &self.free {
            if !matches!(self.slots.get(slot(i)), Some(s) if s.value.is_none()) {
                return Err(format!(
                    "registry free list names slot {i}, which is not empty"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_do_not_match_reused_slots() {
        let mut r = Registry::default();
        r.reserve().unwrap();
        let a = r.insert(1);
        r.reserve().unwrap();
        let b = r.insert(2);
        assert_eq!(r.len(), 2);
        assert_eq!(r.remove(a), Some(1));
        assert_eq!(r.remove(a), None);
        r.reserve().unwrap();
        let c = r.insert(3);
        assert_ne!(a, c);
        assert!(r.get_mut(a).is_none());
        assert_eq!(r.get_mut(c), Some(&mut 3));
        assert_eq!(r.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [3, 2]);
        *r.get_mut(b).unwrap() = 5;
        assert_eq!(r.remove(b), Some(5));
        r.check().unwrap();
        assert_eq!(r.len(), 1);
    }
}
