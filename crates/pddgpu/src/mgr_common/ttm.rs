//! What both TTM adapters share: translating TTM's place and BO facts into an
//! [`AllocRequest`], and the driver error into TTM's.

use super::{AllocRequest, BoDesc, BoFlags, BoKind, Error, Place, PlaceFlags};
use crate::uapi::abi::{PDDGPU_GEM_CREATE_VRAM_CLEARED, PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS};

/// The manager's view of a TTM place (page range and flags; the memory type is implied).
pub(crate) fn place_from_ttm(place: &pddgpu_ttm::Place) -> Place {
    Place {
        fpfn: u64::from(place.fpfn),
        lpfn: u64::from(place.lpfn),
        flags: PlaceFlags::from_bits_truncate(place.flags.bits()),
    }
}

/// The request TTM's `alloc(bo, place)` stands for. Usage is left to the manager: its own
/// count includes this BO and, for VRAM, the reserved ranges, which is what amdgpu
/// compares (`man->usage` including reservations).
pub(crate) fn request_from_ttm(
    bo: &pddgpu_ttm::BoInfo,
    place: &pddgpu_ttm::Place,
    size: u64,
) -> AllocRequest {
    let mut flags = BoFlags::empty();
    if bo.driver_flags & PDDGPU_GEM_CREATE_VRAM_CONTIGUOUS != 0 {
        flags |= BoFlags::VRAM_CONTIGUOUS;
    }
    if bo.driver_flags & PDDGPU_GEM_CREATE_VRAM_CLEARED != 0 {
        flags |= BoFlags::VRAM_CLEARED;
    }
    let kind = match bo.kind {
        pddgpu_ttm::BoType::Kernel => BoKind::Kernel,
        pddgpu_ttm::BoType::Device | pddgpu_ttm::BoType::Sg => BoKind::User,
    };
    AllocRequest {
        place: place_from_ttm(place),
        bo: BoDesc {
            size,
            page_alignment: bo.page_alignment,
            flags,
            kind,
        },
        usage: None,
    }
}

impl From<Error> for pddgpu_ttm::Error {
    /// The TTM error of the same errno (the explanation of a no-space was logged by the
    /// manager; TTM's error carries no payload). Hardware and consistency failures are
    /// `Io`.
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(_) => Self::InvalidArgument,
            Error::NoSpace(_) => Self::NoSpace,
            Error::NoDevice { .. } => Self::NoDevice,
            Error::OutOfMemory => Self::OutOfMemory,
            Error::Busy(_) => Self::Busy,
            Error::NotFound(_) => Self::NotFound,
            Error::Hw(_) | Error::Corrupted { .. } => Self::Io,
        }
    }
}
