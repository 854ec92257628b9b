//! Whole-device invariants: the cross-layer checker.
//!
//! Each layer checks itself ([`Device::check`] runs TTM's LRU and usage checks and
//! both managers' allocator checks, [`SimHw::check`](crate::hw::SimHw::check) the page
//! stores and the GART, [`File::check`] a file's handle tables). What no layer can see
//! alone is whether they agree with each other. [`check_device`] walks every live BO
//! through TTM and re-derives, from the resources themselves:
//!
//! - TTM's VRAM usage == Σ sizes of live VRAM resources == the VRAM manager's used
//!   bytes (`mem_info_vram_used`);
//! - TTM's TT usage == Σ sizes of live TT resources == `mem_info_gtt_used`;
//! - `vis_usage` (`mem_info_vis_vram_used`) == Σ bytes of VRAM blocks below the
//!   visible limit;
//! - the number of live VRAM/GTT manager allocations == the number of live resources
//!   of each type;
//! - every GTT resource that has a GART address and is bound has every one of its
//!   pages bound in the GART, and the GART holds at least that many bound entries;
//! - every handle of every given [`File`] names an object whose BO is live on this
//!   device.
//!
//! BOs released while busy (TTM zombies, awaiting delayed delete) still hold memory
//! but are no longer listed as live BOs, so with zombies present the sums are checked
//! as lower bounds only; call [`Device::delayed_delete`] first for exact checks.
//!
//! # Locking
//! The checker try-reserves each BO and reports a violation if one is held: call it
//! when no operation is in flight (between the steps of a test, at the end of a
//! `pddgpu run`). It never blocks and never changes any state.

use core::fmt;
use std::collections::HashSet;

use pddgpu_ttm::MemType;

use crate::device::Device;
use crate::gem::File;
use crate::mgr_common::PAGE_SIZE;
use crate::ttm_glue::{GttBacking, VramBacking};

/// A broken invariant: which one, with the values that disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant violated: {}", self.0)
    }
}

impl std::error::Error for Violation {}

/// What a successful [`check_device`] counted (useful for reports and for asserting
/// a test really exercised something).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Live BOs walked.
    pub bos: usize,
    /// Bytes of live VRAM resources.
    pub vram_bytes: u64,
    /// Bytes of live VRAM blocks below the visible limit.
    pub vis_bytes: u64,
    /// Bytes of live TT resources.
    pub gtt_bytes: u64,
    /// GART pages found bound for bound GTT resources.
    pub gart_pages: u64,
    /// Handles checked across the given files.
    pub handles: usize,
    /// BOs awaiting delayed delete (sums were checked as lower bounds if non-zero).
    pub zombies: usize,
}

fn violation<T>(msg: String) -> Result<T, Violation> {
    Err(Violation(msg))
}

/// Sums of what the live BOs hold, re-derived from their resources.
#[derive(Default)]
struct Derived {
    vram_bytes: u64,
    vram_count: usize,
    vis_bytes: u64,
    gtt_bytes: u64,
    gtt_count: usize,
    gart_pages: u64,
}

/// Checks every per-layer invariant, then the cross-layer ones listed in the
/// [module documentation](self), for `dev` and the open `files` on it.
///
/// # Errors
/// A [`Violation`] describing the first broken invariant (including a BO found
/// reserved, which means the device was not quiescent).
///
/// # Complexity
/// O(live BOs + their blocks and pages + handles) plus the per-layer checks.
pub fn check_device(dev: &Device, files: &[&File]) -> Result<CheckSummary, Violation> {
    dev.check().map_err(|e| Violation(format!("device: {e}")))?;
    dev.hw()
        .check()
        .map_err(|e| Violation(format!("hardware: {e}")))?;

    let metas = dev.metas();
    let live_ids: HashSet<u64> = metas.iter().map(|m| m.id).collect();
    let visible = dev.vram_mgr().config().visible_size;
    let gart = dev.hw().gart();
    let mut d = Derived::default();
    for meta in &metas {
        let Some(tbo) = meta.tbo.upgrade() else {
            // Being torn down right now: its resource is already off the books.
            continue;
        };
        let Some(r) = tbo.try_reserve() else {
            return violation(format!("BO {} is reserved: device not quiescent", meta.id));
        };
        let Some(res) = r.resource() else { continue };
        match res.mem_type() {
            MemType::VRAM => {
                d.vram_bytes += res.size();
                d.vram_count += 1;
                let Some(backing) = res.private::<VramBacking>() else {
                    return violation(format!("BO {}: VRAM resource without blocks", meta.id));
                };
                let blocks: u64 = backing.blocks().iter().map(|b| b.size).sum();
                if blocks < res.size() {
                    return violation(format!(
                        "BO {}: VRAM blocks cover {blocks} bytes of a {}-byte resource",
                        meta.id,
                        res.size()
                    ));
                }
                d.vis_bytes += backing
                    .blocks()
                    .iter()
                    .map(|b| b.visible_bytes(visible))
                    .sum::<u64>();
            }
            MemType::TT => {
                d.gtt_bytes += res.size();
                d.gtt_count += 1;
                let Some(backing) = res.private::<GttBacking>() else {
                    return violation(format!("BO {}: TT resource without backing", meta.id));
                };
                if let (Some(addr), true) = (backing.gart_addr(), backing.is_bound()) {
                    let first = addr / PAGE_SIZE;
                    let pages = res.size().div_ceil(PAGE_SIZE);
                    for page in first..first + pages {
                        if !gart.is_bound(page) {
                            return violation(format!(
                                "BO {}: GART page {page} of its bound range is not bound",
                                meta.id
                            ));
                        }
                    }
                    d.gart_pages += pages;
                }
            }
            _ => {}
        }
    }

    let zombies = dev.ttm().n_deleted();
    compare_books(dev, &d, zombies)?;
    if gart.bound_entries() < d.gart_pages {
        return violation(format!(
            "GART has {} bound entries, bound GTT BOs need {}",
            gart.bound_entries(),
            d.gart_pages
        ));
    }

    let mut handles = 0;
    for (i, file) in files.iter().enumerate() {
        file.check()
            .map_err(|e| Violation(format!("file {i}: {e}")))?;
        if !core::ptr::eq(file.device().as_ref(), dev) {
            return violation(format!("file {i} is open on another device"));
        }
        for h in file.handles() {
            let obj = file
                .object(h)
                .map_err(|e| Violation(format!("file {i}: listed handle {h:?} fails: {e}")))?;
            if !live_ids.contains(&obj.bo().id()) {
                return violation(format!(
                    "file {i}: handle {h:?} names BO {} which is not live",
                    obj.bo().id()
                ));
            }
            handles += 1;
        }
    }

    Ok(CheckSummary {
        bos: metas.len(),
        vram_bytes: d.vram_bytes,
        vis_bytes: d.vis_bytes,
        gtt_bytes: d.gtt_bytes,
        gart_pages: d.gart_pages,
        handles,
        zombies,
    })
}

/// TTM usage, manager counters and the derived sums must agree (exactly without
/// zombies, as lower bounds with them).
fn compare_books(dev: &Device, d: &Derived, zombies: usize) -> Result<(), Violation> {
    let vram = dev.vram_mgr();
    let gtt = dev.gtt_mgr();
    let ttm_vram = dev.ttm().usage(MemType::VRAM);
    let ttm_tt = dev.ttm().usage(MemType::TT);
    let pairs = [
        (
            "TTM VRAM usage",
            ttm_vram,
            "manager vram_used",
            vram.mem_info_vram_used(),
        ),
        (
            "TTM TT usage",
            ttm_tt,
            "manager gtt_used",
            gtt.mem_info_gtt_used(),
        ),
    ];
    for (a, va, b, vb) in pairs {
        if va != vb {
            return violation(format!("{a} {va} != {b} {vb}"));
        }
    }
    let derived = [
        ("VRAM bytes", d.vram_bytes, ttm_vram),
        ("TT bytes", d.gtt_bytes, ttm_tt),
        (
            "visible VRAM bytes",
            d.vis_bytes,
            vram.mem_info_vis_vram_used(),
        ),
        (
            "VRAM allocations",
            d.vram_count as u64,
            vram.live_count() as u64,
        ),
        (
            "GTT allocations",
            d.gtt_count as u64,
            gtt.live_count() as u64,
        ),
    ];
    for (what, live, books) in derived {
        let ok = if zombies == 0 {
            live == books
        } else {
            live <= books
        };
        if !ok {
            return violation(format!(
                "{what}: live BOs hold {live}, the books say {books} ({zombies} zombies)"
            ));
        }
    }
    Ok(())
}

pub mod fuzz;
