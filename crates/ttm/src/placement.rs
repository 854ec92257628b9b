//! Memory types, places and placements (upstream `ttm_placement.h`).
//!
//! A [`Place`] names one memory type and an optional page window inside it; a
//! [`Placement`] is an ordered list of places, first = most preferred. Only resource
//! managers interpret `fpfn`/`lpfn`; the TTM core passes them through.

use core::fmt;

use crate::error::{Error, Result};
use crate::inline_vec::InlineVec;

/// Number of memory types a device can have (`TTM_NUM_MEM_TYPES`): 0..=8.
pub const NUM_MEM_TYPES: usize = 9;

/// Number of LRU priorities per manager (`TTM_MAX_BO_PRIORITY`): 0..=3.
pub const MAX_BO_PRIORITY: u8 = 4;

/// A memory type (domain) index: [`MemType::SYSTEM`], [`MemType::TT`],
/// [`MemType::VRAM`] or a driver-private type 3..=8.
///
/// # Invariants
/// The index is below [`NUM_MEM_TYPES`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemType(u8);

impl MemType {
    /// System memory not reachable by the device (`TTM_PL_SYSTEM`); backed by a TT.
    pub const SYSTEM: MemType = MemType(0);
    /// System memory reachable through the GART (`TTM_PL_TT`); backed by a TT.
    pub const TT: MemType = MemType(1);
    /// Device memory (`TTM_PL_VRAM`).
    pub const VRAM: MemType = MemType(2);
    /// The first driver-private type (`TTM_PL_PRIV`).
    pub const PRIV: MemType = MemType(3);

    /// The memory type with index `index`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `index >= NUM_MEM_TYPES`.
    #[inline]
    pub const fn new(index: u32) -> Result<MemType> {
        if index < NUM_MEM_TYPES as u32 {
            // The bound above makes the narrowing exact.
            Ok(MemType(index as u8))
        } else {
            Err(Error::InvalidArgument)
        }
    }

    /// The numeric index (`place->mem_type`).
    #[inline]
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The numeric value as upstream prints it.
    #[must_use]
    pub const fn as_u32(self) -> u32 {
        self.0 as u32
    }

    /// Every memory type, in index order.
    pub fn all() -> impl Iterator<Item = MemType> {
        (0..NUM_MEM_TYPES as u8).map(MemType)
    }
}

impl fmt::Debug for MemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemType::SYSTEM => f.write_str("SYSTEM"),
            MemType::TT => f.write_str("TT"),
            MemType::VRAM => f.write_str("VRAM"),
            MemType(n) => write!(f, "PRIV{}", n - 3),
        }
    }
}

bitflags::bitflags! {
    /// Placement flags (`TTM_PL_FLAG_*`), copied verbatim into the resource.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PlaceFlags: u32 {
        /// The resource must be physically contiguous. Managers that can scatter
        /// must honour it and record it in [`Resource::placement`]; a place with
        /// this flag is only compatible with a resource that has it.
        ///
        /// [`Resource::placement`]: crate::Resource::placement
        const CONTIGUOUS = 1 << 0;
        /// Allocate from the top of the window (range manager: `InsertMode::High`).
        const TOPDOWN = 1 << 1;
        /// A multihop bounce placement. A resource with this flag is never
        /// compatible, so a BO left there moves again on the next validation.
        const TEMPORARY = 1 << 2;
        /// Never used while evicting (skipped in the second validation pass).
        const DESIRED = 1 << 3;
        /// Only used while evicting (skipped in the first validation pass).
        const FALLBACK = 1 << 4;
    }
}

/// One acceptable location for a BO (`struct ttm_place`).
///
/// `fpfn`/`lpfn` bound the allocation to pages `[fpfn, lpfn)` of the manager;
/// `lpfn == 0` means no upper limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place {
    /// First acceptable page frame.
    pub fpfn: u32,
    /// One past the last acceptable page frame; 0 = no limit.
    pub lpfn: u32,
    /// The memory type whose manager serves this place.
    pub mem_type: MemType,
    /// Placement flags.
    pub flags: PlaceFlags,
}

impl Place {
    /// A place covering the whole of `mem_type` with no flags.
    #[inline]
    #[must_use]
    pub const fn new(mem_type: MemType) -> Place {
        Place {
            fpfn: 0,
            lpfn: 0,
            mem_type,
            flags: PlaceFlags::empty(),
        }
    }

    /// This place with `flags` added.
    #[inline]
    #[must_use]
    pub const fn with_flags(mut self, flags: PlaceFlags) -> Place {
        self.flags = self.flags.union(flags);
        self
    }

    /// This place restricted to pages `[fpfn, lpfn)`.
    #[inline]
    #[must_use]
    pub const fn with_range(mut self, fpfn: u32, lpfn: u32) -> Place {
        self.fpfn = fpfn;
        self.lpfn = lpfn;
        self
    }
}

/// An ordered list of places, most preferred first (`struct ttm_placement`).
///
/// An empty placement asks validation to drop the BO's backing store.
///
/// Up to [`Placement::INLINE_PLACES`] places are stored inline (no allocation: a
/// placement is built for every BO creation and validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    places: InlineVec<Place, { Placement::INLINE_PLACES }>,
}

impl Default for Placement {
    fn default() -> Placement {
        Placement::empty()
    }
}

impl Placement {
    /// Places stored without a heap allocation (amdgpu's BOs carry at most three:
    /// VRAM, GTT, CPU).
    pub const INLINE_PLACES: usize = 4;

    /// A placement without places (purges the BO when validated).
    #[inline]
    #[must_use]
    pub const fn empty() -> Placement {
        Placement {
            places: InlineVec::new(Place::new(MemType::SYSTEM)),
        }
    }

    /// A placement trying `places` in order.
    #[inline]
    #[must_use]
    pub fn new(places: Vec<Place>) -> Placement {
        Placement::from_places(&places)
    }

    /// A placement trying `places` in order, copied.
    #[inline]
    #[must_use]
    pub fn from_places(places: &[Place]) -> Placement {
        let mut p = Placement::empty();
        for &place in places {
            p.push(place);
        }
        p
    }

    /// A placement with the single whole-domain place `mem_type`.
    #[inline]
    #[must_use]
    pub fn single(mem_type: MemType) -> Placement {
        let mut p = Placement::empty();
        p.push(Place::new(mem_type));
        p
    }

    /// Appends `place` as the least preferred one.
    #[inline]
    pub fn push(&mut self, place: Place) {
        self.places.push(place);
    }

    /// The places, most preferred first.
    #[inline]
    #[must_use]
    pub fn places(&self) -> &[Place] {
        self.places.as_slice()
    }

    /// The places, mutably (to narrow a placement derived from another).
    #[inline]
    #[must_use]
    pub fn places_mut(&mut self) -> &mut [Place] {
        self.places.as_mut_slice()
    }

    /// True if there are no places.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.places().is_empty()
    }
}

impl From<Vec<Place>> for Placement {
    fn from(places: Vec<Place>) -> Placement {
        Placement::from_places(&places)
    }
}
