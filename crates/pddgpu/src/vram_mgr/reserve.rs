//! Reserved ranges (bad pages): upstream `amdgpu_vram_mgr_reserve_range`,
//! `amdgpu_vram_mgr_do_reserve` and `amdgpu_vram_mgr_query_page_status`.

use core::sync::atomic::Ordering;

use pddgpu_buddy::AllocFlags;

use super::{Inner, Reservation, VramBlock, VramManager};
use crate::mgr_common::{Error, Result, PAGE_SIZE};

impl VramManager {
    /// Reserves VRAM bytes `[start, start + size)` for good (upstream
    /// `amdgpu_vram_mgr_reserve_range`, used for bad pages): now if the range is free,
    /// otherwise as soon as it is (retried on every free). Reserved bytes count as used.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `start`/`size` are not page aligned, `size` is 0 or
    /// the range leaves VRAM; [`Error::OutOfMemory`] if the lists cannot grow.
    pub fn reserve_range(&self, start: u64, size: u64) -> Result<()> {
        let end = start
            .checked_add(size)
            .ok_or(Error::InvalidArgument("reservation end overflows"))?;
        if size == 0 || start % PAGE_SIZE != 0 || size % PAGE_SIZE != 0 {
            return Err(Error::InvalidArgument(
                "reservation must be whole, non-empty pages",
            ));
        }
        if end > self.config.size {
            return Err(Error::InvalidArgument("reservation outside VRAM"));
        }
        let mut inner = self.inner.lock();
        inner
            .pending
            .try_reserve(1)
            .map_err(|_| Error::OutOfMemory)?;
        let room = inner.pending.len() + 1;
        inner
            .reserved
            .try_reserve(room)
            .map_err(|_| Error::OutOfMemory)?;
        inner.pending.push(Reservation {
            start,
            size,
            blocks: Vec::new(),
            visible: 0,
        });
        self.do_reserve(&mut inner);
        Ok(())
    }

    /// Tries every pending reservation (upstream `amdgpu_vram_mgr_do_reserve`).
    pub(super) fn do_reserve(&self, inner: &mut Inner) {
        let mut i = 0;
        while i < inner.pending.len() {
            let (start, size) = (inner.pending[i].start, inner.pending[i].size);
            match inner
                .buddy
                .alloc_blocks(start, start + size, size, PAGE_SIZE, AllocFlags::RANGE)
            {
                Ok(blocks) => {
                    let mut rsv = inner.pending.remove(i);
                    rsv.visible = blocks
                        .iter()
                        .map(|b| VramBlock {
                            offset: b.offset(),
                            size: b.size(),
                            clear: false,
                        })
                        .map(|b| b.visible_bytes(self.config.visible_size))
                        .sum();
                    rsv.blocks = blocks;
                    tracing::debug!("Reservation {start:#x} - {size}, Succeeded");
                    inner.committed += size;
                    self.core.used().fetch_add(size, Ordering::AcqRel);
                    self.vis_usage.fetch_add(rsv.visible, Ordering::AcqRel);
                    // Room was reserved when the reservation was queued.
                    inner.reserved.push(rsv);
                }
                Err(_) => i += 1,
            }
        }
    }

    /// Status of the page containing VRAM byte `addr` (upstream
    /// `amdgpu_vram_mgr_query_page_status`).
    ///
    /// # Errors
    /// [`Error::Busy`] if a pending reservation covers it, [`Error::NotFound`] if no
    /// reservation does; `Ok` if it is reserved.
    pub fn query_page_status(&self, addr: u64) -> Result<()> {
        let inner = self.inner.lock();
        let covers = |r: &Reservation| r.start <= addr && addr < r.start + r.size;
        if inner.pending.iter().any(covers) {
            return Err(Error::Busy("reservation pending"));
        }
        if inner.reserved.iter().any(covers) {
            return Ok(());
        }
        Err(Error::NotFound("no reservation at this address"))
    }
}
