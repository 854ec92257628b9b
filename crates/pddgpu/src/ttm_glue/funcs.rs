//! The driver callbacks TTM calls (upstream `amdgpu_bo_driver`: `amdgpu_evict_flags`,
//! `amdgpu_bo_move`).

use std::sync::Arc;

use pddgpu_ttm::{
    BoInfo, DeviceFuncs, MemType, MoveArgs, MoveError, Place, PlaceFlags, Placement, Resource, Tt,
};

use super::copy::{Side, Windows};
use super::gtt::{GttBacking, GttTtm};
use super::vram::VramBacking;
use crate::bo::places_from_domain;
use crate::gtt_mgr::GttManager;
use crate::hw::{DevAddr, HwError, SimHw};
use crate::mgr_common::{BoKind, DeviceState, PAGE_SIZE};
use crate::uapi::{CreateFlags, Domains};
use crate::vram_mgr::VramManager;

/// The PDDGPU implementation of TTM's [`DeviceFuncs`].
///
/// See the [module documentation](super) for what each move does. Built by
/// [`Device::new`](crate::device::Device::new) before the TTM device, so it holds the
/// managers directly.
#[derive(Debug)]
pub struct PddgpuTtmFuncs {
    hw: Arc<SimHw>,
    vram: Arc<VramManager>,
    gtt: Arc<GttTtm>,
    state: Arc<DeviceState>,
    windows: Windows,
}

impl PddgpuTtmFuncs {
    /// The callbacks of a device with hardware `hw`, managers `vram` and `gtt`, and
    /// lifecycle `state`.
    #[must_use]
    pub fn new(
        hw: Arc<SimHw>,
        vram: Arc<VramManager>,
        gtt: Arc<GttTtm>,
        state: Arc<DeviceState>,
    ) -> Self {
        Self {
            hw,
            vram,
            gtt,
            state,
            windows: Windows::default(),
        }
    }

    fn gtt_mgr(&self) -> &GttManager {
        self.gtt.manager()
    }

    /// First page above the CPU-visible window.
    fn visible_pfn(&self) -> u32 {
        u32::try_from(self.hw.config().visible_vram_size / PAGE_SIZE).unwrap_or(u32::MAX)
    }

    /// Where the copy engine finds the bytes of `res` (with the BO's pages `tt`).
    fn side<'a>(&self, res: &'a Resource, tt: Option<&'a Tt>) -> Result<Side<'a>, MoveError> {
        let missing = MoveError::Failed(pddgpu_ttm::Error::InvalidArgument);
        if res.mem_type() == MemType::VRAM {
            return res
                .private::<VramBacking>()
                .map(|b| Side::Vram(b.blocks()))
                .ok_or(missing);
        }
        if let Some(addr) = res.private::<GttBacking>().and_then(GttBacking::gart_addr) {
            return Ok(Side::Gart(addr));
        }
        tt.filter(|t| t.is_populated())
            .map(|t| Side::Pages(t.pages()))
            .ok_or(missing)
    }

    /// Zeroes the blocks of a new VRAM resource the buddy does not know to be clear.
    fn clear_new_vram(&self, res: &Resource) -> Result<(), MoveError> {
        let Some(b) = res.private::<VramBacking>() else {
            return Err(MoveError::Failed(pddgpu_ttm::Error::InvalidArgument));
        };
        for block in b.blocks().iter().filter(|b| !b.clear) {
            self.hw
                .fill(DevAddr::Vram(block.offset), block.size, 0)
                .map_err(copy_failed)?;
        }
        Ok(())
    }

    /// Books a completed move in the managers' counters. An eviction is counted on the
    /// domain the BO left; the final leg of a VRAM → SYSTEM eviction starts in a
    /// TEMPORARY TT bounce and is booked on VRAM, where it began.
    fn account(&self, args: &MoveArgs<'_>, copied: bool) {
        let size = args.bo.size;
        if let Some(old) = args.old {
            let bounced = old.placement().contains(PlaceFlags::TEMPORARY);
            let counters = match old.mem_type() {
                MemType::VRAM => Some(self.vram.counters()),
                MemType::TT if args.evict && bounced => Some(self.vram.counters()),
                MemType::TT => Some(self.gtt_mgr().counters()),
                _ => None,
            };
            if let Some(c) = counters {
                if args.evict {
                    c.record_eviction(size);
                } else if copied {
                    c.record_bytes_moved(size);
                }
            }
        }
        if copied {
            match args.new.mem_type() {
                MemType::VRAM => self.vram.counters().record_bytes_moved(size),
                MemType::TT => self.gtt_mgr().counters().record_bytes_moved(size),
                _ => {}
            }
        }
    }
}

/// A copy-engine failure as a move failure (TTM keeps the old resource).
fn copy_failed(e: HwError) -> MoveError {
    tracing::error!("copy engine failed during a BO move: {e}");
    MoveError::Failed(pddgpu_ttm::Error::Io)
}

impl DeviceFuncs for PddgpuTtmFuncs {
    /// Upstream `amdgpu_evict_flags`: a VRAM BO goes to GTT (no GART address needed),
    /// falling back to SYSTEM; one that sits entirely in the CPU-visible window and
    /// does not need CPU access first tries invisible VRAM (a DESIRED place, so it never
    /// evicts others from there); anything else goes to SYSTEM. Once the device shuts
    /// down the placement is empty: TTM purges the contents.
    ///
    /// # Upstream
    /// amdgpu marks the GTT place FALLBACK when the BO prefers VRAM, which sends such a
    /// BO to SYSTEM whenever invisible VRAM is full; pddgpu keeps GTT as the first
    /// choice after invisible VRAM.
    fn evict_flags(&self, bo: &BoInfo, res: &Resource) -> Placement {
        if self.state.is_shutdown() {
            return Placement::default();
        }
        if res.mem_type() != MemType::VRAM {
            return Placement::single(MemType::SYSTEM);
        }
        let flags = CreateFlags::from_bits_truncate(bo.driver_flags);
        let kind = match bo.kind {
            pddgpu_ttm::BoType::Kernel => BoKind::Kernel,
            _ => BoKind::User,
        };
        let cfg = self.hw.config();
        let full_visible = cfg.visible_vram_size >= cfg.vram_size;
        let in_visible = res
            .private::<VramBacking>()
            .is_some_and(|b| b.resource().is_fully_visible());
        let mut places =
            if !full_visible && !flags.contains(CreateFlags::CPU_ACCESS_REQUIRED) && in_visible {
                let mut p = places_from_domain(
                    Domains::VRAM | Domains::GTT | Domains::CPU,
                    flags,
                    kind,
                    self.visible_pfn(),
                    0,
                    false,
                );
                if let Some(vram) = p.places_mut().first_mut() {
                    vram.fpfn = self.visible_pfn();
                    vram.lpfn = 0;
                    vram.flags |= PlaceFlags::DESIRED;
                }
                p
            } else {
                places_from_domain(Domains::GTT | Domains::CPU, flags, kind, 0, 0, false)
            };
        // Evicted BOs never need a GART address.
        for p in places
            .places_mut()
            .iter_mut()
            .filter(|p| p.mem_type == MemType::TT)
        {
            p.fpfn = 0;
            p.lpfn = 0;
        }
        places
    }

    /// Upstream `amdgpu_bo_move`; see the [module documentation](super).
    fn move_bo(&self, args: &MoveArgs<'_>) -> Result<(), MoveError> {
        let old_type = args.old.map(Resource::mem_type);
        let new_type = args.new.mem_type();
        let tt_populated = args.tt.is_some_and(Tt::is_populated);
        let hop = matches!((old_type, new_type), (Some(MemType::VRAM), MemType::SYSTEM))
            || (old_type == Some(MemType::SYSTEM) && new_type == MemType::VRAM && tt_populated);
        if hop {
            return Err(MoveError::Multihop(
                Place::new(MemType::TT).with_flags(PlaceFlags::TEMPORARY),
            ));
        }
        if new_type == MemType::TT {
            let tt = args
                .tt
                .filter(|t| t.is_populated())
                .ok_or(MoveError::Failed(pddgpu_ttm::Error::InvalidArgument))?;
            self.gtt
                .bind(args.new, tt)
                .map_err(|e| MoveError::Failed(e.into()))?;
        }
        let copied = match (args.old, new_type) {
            (Some(old), MemType::VRAM | MemType::TT)
                if matches!(old.mem_type(), MemType::VRAM)
                    || (old.mem_type() == MemType::TT && new_type == MemType::VRAM) =>
            {
                let src = self.side(old, args.tt)?;
                let dst = self.side(args.new, args.tt)?;
                self.windows
                    .copy(&self.hw, src, dst, args.bo.size)
                    .map_err(copy_failed)?;
                true
            }
            // No contents yet (a new BO, or a SYSTEM BO never populated): zero new VRAM.
            (_, MemType::VRAM) => {
                self.clear_new_vram(args.new)?;
                false
            }
            // SYSTEM ↔ TT, TT → TT, into SYSTEM: the pages stay where they are.
            _ => false,
        };
        self.account(args, copied);
        Ok(())
    }
}
