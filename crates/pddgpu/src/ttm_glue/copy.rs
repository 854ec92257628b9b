//! Moving BO contents with the copy engine (upstream `amdgpu_ttm_copy_mem_to_mem` and
//! `amdgpu_ttm_map_buffer`).
//!
//! A BO's bytes are described by a [`Side`]: VRAM blocks in BO order, a contiguous GART
//! range, or system pages without a GART address. The first two are device addresses
//! the copy engine reaches directly. Pages without an address are mapped, one window of
//! at most [`GTT_MAX_TRANSFER_SIZE`] pages at a time, into a transfer window at the start
//! of the GART, copied and unmapped again.
//!
//! # Synchronization
//! The window lock (upstream `gtt_window_lock`) is taken per window-sized chunk, only
//! when a side needs a window, and released between chunks: no lock is held across a
//! whole BO copy.

use parking_lot::Mutex;

use crate::gtt_mgr::{GTT_MAX_TRANSFER_SIZE, GTT_NUM_TRANSFER_WINDOWS};
use crate::hw::{DevAddr, DmaAddr, HwError, SimHw};
use crate::mgr_common::PAGE_SIZE;
use crate::vram_mgr::VramBlock;

/// Bytes one transfer window maps.
pub(super) const WINDOW_BYTES: u64 = GTT_MAX_TRANSFER_SIZE * PAGE_SIZE;

/// Where a BO's bytes are, as the copy engine sees them.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side<'a> {
    /// VRAM blocks in BO order (BO byte 0 is the first byte of the first block).
    Vram(&'a [VramBlock]),
    /// A GART range starting at this byte address.
    Gart(u64),
    /// System pages without a GART address, one DMA address per BO page.
    Pages(&'a [u64]),
}

/// The transfer windows: GART pages `[i * GTT_MAX_TRANSFER_SIZE, ...)`, window 0 for the
/// source and window 1 for the destination, and the lock serialising their users.
#[derive(Debug, Default)]
pub(super) struct Windows {
    lock: Mutex<()>,
}

impl Windows {
    /// First GART page of window `i`.
    const fn first_page(i: u64) -> u64 {
        i * GTT_MAX_TRANSFER_SIZE
    }

    /// Copies `size` bytes from `src` to `dst`.
    ///
    /// # Errors
    /// The hardware's error (copy-engine failure, GART fault, a side shorter than
    /// `size`); the destination may then hold part of the data, the source is intact
    /// and no window stays mapped.
    pub(super) fn copy(
        &self,
        hw: &SimHw,
        src: Side<'_>,
        dst: Side<'_>,
        size: u64,
    ) -> Result<(), HwError> {
        let windowed = matches!(src, Side::Pages(_)) || matches!(dst, Side::Pages(_));
        let chunk = if windowed { WINDOW_BYTES } else { size.max(1) };
        let mut off = 0;
        while off < size {
            let len = chunk.min(size - off);
            let guard = windowed.then(|| self.lock.lock());
            let result = extents(hw, src, off, len, Self::first_page(0)).and_then(|s| {
                let d = extents(hw, dst, off, len, Self::first_page(1))?;
                copy_extents(hw, &s, &d)
            });
            if windowed {
                for i in 0..GTT_NUM_TRANSFER_WINDOWS {
                    // Only window-shaped ranges are unbound; they always fit the table.
                    let _ = hw.gart().unbind(Self::first_page(i), GTT_MAX_TRANSFER_SIZE);
                }
            }
            drop(guard);
            result?;
            off += len;
        }
        Ok(())
    }
}

/// The device extents `(address, bytes)` of BO bytes `[off, off + len)` on `side`; for
/// pages, maps them into the window at GART page `window_page` first.
fn extents(
    hw: &SimHw,
    side: Side<'_>,
    off: u64,
    len: u64,
    window_page: u64,
) -> Result<Vec<(DevAddr, u64)>, HwError> {
    let end = off
        .checked_add(len)
        .ok_or(HwError::InvalidArgument("BO range overflows"))?;
    match side {
        Side::Vram(blocks) => {
            let mut out = Vec::new();
            let mut pos = 0u64;
            for b in blocks {
                let (start, stop) = (pos, pos + b.size);
                pos = stop;
                if stop <= off {
                    continue;
                }
                if start >= end {
                    break;
                }
                let s = off.max(start);
                let e = end.min(stop);
                out.push((DevAddr::Vram(b.offset + (s - start)), e - s));
            }
            if pos < end {
                return Err(HwError::InvalidArgument("VRAM blocks smaller than the BO"));
            }
            Ok(out)
        }
        Side::Gart(base) => {
            let at = base
                .checked_add(off)
                .ok_or(HwError::InvalidArgument("GART address overflows"))?;
            Ok(vec![(DevAddr::Gart(at), len)])
        }
        Side::Pages(pages) => {
            let first = usize::try_from(off / PAGE_SIZE)
                .map_err(|_| HwError::InvalidArgument("BO offset too large"))?;
            let n = usize::try_from(len.div_ceil(PAGE_SIZE))
                .map_err(|_| HwError::InvalidArgument("BO range too large"))?;
            let slice = first
                .checked_add(n)
                .and_then(|last| pages.get(first..last))
                .ok_or(HwError::InvalidArgument("fewer pages than the BO"))?;
            let dma: Vec<DmaAddr> = slice.iter().copied().map(DmaAddr::new).collect();
            hw.gart().bind(window_page, &dma)?;
            Ok(vec![(DevAddr::Gart(window_page * PAGE_SIZE), len)])
        }
    }
}

/// `addr + delta` on either address space.
fn offset(addr: DevAddr, delta: u64) -> DevAddr {
    match addr {
        DevAddr::Vram(a) => DevAddr::Vram(a + delta),
        DevAddr::Gart(a) => DevAddr::Gart(a + delta),
    }
}

/// Copies between two extent lists of equal total length, one job per overlap.
fn copy_extents(hw: &SimHw, src: &[(DevAddr, u64)], dst: &[(DevAddr, u64)]) -> Result<(), HwError> {
    let (mut i, mut j, mut si, mut dj) = (0, 0, 0u64, 0u64);
    while i < src.len() && j < dst.len() {
        let n = (src[i].1 - si).min(dst[j].1 - dj);
        hw.copy(offset(src[i].0, si), offset(dst[j].0, dj), n)?;
        si += n;
        dj += n;
        if si == src[i].1 {
            i += 1;
            si = 0;
        }
        if dj == dst[j].1 {
            j += 1;
            dj = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::HwConfig;

    fn hw() -> SimHw {
        SimHw::new(HwConfig {
            vram_size: 16 << 20,
            visible_vram_size: 4 << 20,
            gtt_size: 16 << 20,
            sys_mem_size: 16 << 20,
            page_size: 4096,
        })
        .expect("hw")
    }

    #[test]
    fn scattered_vram_to_windowed_pages_and_back() {
        let hw = hw();
        let w = Windows::default();
        // 600 pages: more than one window, so two chunks.
        let n = 600u64;
        let size = n * PAGE_SIZE;
        let blocks = [
            VramBlock {
                offset: 8 << 20,
                size: 2 << 20,
                clear: false,
            },
            VramBlock {
                offset: 1 << 20,
                size: size - (2 << 20),
                clear: false,
            },
        ];
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        hw.vram().dev_write(8 << 20, &data[..2 << 20]).expect("w");
        hw.vram().dev_write(1 << 20, &data[2 << 20..]).expect("w");
        let pages: Vec<u64> = (0..n)
            .map(|_| hw.sysmem().alloc_pages(0).expect("page").get())
            .collect();
        w.copy(&hw, Side::Vram(&blocks), Side::Pages(&pages), size)
            .expect("copy out");
        for (i, &p) in pages.iter().enumerate() {
            let mut buf = vec![0u8; 4096];
            hw.sysmem().read(DmaAddr::new(p), &mut buf).expect("read");
            assert_eq!(buf[..], data[i * 4096..(i + 1) * 4096], "page {i}");
        }
        assert_eq!(hw.gart().bound_entries(), 0, "windows unmapped");
        hw.fill(DevAddr::Vram(1 << 20), 15 << 20, 0).expect("clear");
        w.copy(&hw, Side::Pages(&pages), Side::Vram(&blocks), size)
            .expect("copy back");
        let mut back = vec![0u8; 2 << 20];
        hw.vram().dev_read(8 << 20, &mut back).expect("r");
        assert_eq!(back[..], data[..2 << 20]);
        // A failed job leaves no window mapped.
        hw.copy_engine().fail_next_copies(1);
        assert_eq!(
            w.copy(&hw, Side::Vram(&blocks), Side::Pages(&pages), size),
            Err(HwError::CopyFailed)
        );
        assert_eq!(hw.gart().bound_entries(), 0);
        // A side shorter than the copy is refused, not overrun.
        assert!(w
            .copy(&hw, Side::Vram(&blocks[..1]), Side::Gart(0), size)
            .is_err());
    }
}
