//! VRAM: the device's own memory and its CPU-visible window (the BAR).
//!
//! Device address = VRAM offset, `[0, size)`. The CPU reaches only the first
//! `visible_size` bytes, as through a small PCI BAR; the device reaches all of it.
//! Storage is lazy (see the store module): unwritten pages cost nothing and zeroing a
//! page gives its memory back.
//!
//! # Synchronization
//! All methods take `&self`; each page access holds one shard lock of the store for one
//! page-sized copy. A multi-page access is not atomic with respect to concurrent
//! writers of the same bytes (the hardware gives no such guarantee either).

use super::error::{HwError, Result};
use super::store::{pieces, PageStore, Presence};

/// The VRAM aperture of a simulated device.
pub struct Vram {
    size: u64,
    visible_size: u64,
    page_shift: u32,
    store: PageStore,
}

impl core::fmt::Debug for Vram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vram")
            .field("size", &format_args!("{:#x}", self.size))
            .field("visible_size", &format_args!("{:#x}", self.visible_size))
            .field("committed_bytes", &self.committed_bytes())
            .finish()
    }
}

impl Vram {
    /// A VRAM of `size` bytes whose first `visible_size` bytes are CPU-visible. The
    /// caller ([`HwConfig::validate`](super::HwConfig::validate)) has checked the sizes.
    pub(crate) fn new(size: u64, visible_size: u64, page_size: u64) -> Self {
        // Lossless: page_size <= 64 KiB.
        let store = PageStore::new(page_size as usize, Presence::Implicit);
        Self {
            size,
            visible_size,
            page_shift: page_size.trailing_zeros(),
            store,
        }
    }

    /// VRAM size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Size of the CPU-visible window `[0, visible_size)` in bytes.
    #[must_use]
    pub fn visible_size(&self) -> u64 {
        self.visible_size
    }

    /// Bytes of host memory currently committed to VRAM contents: one page per page that
    /// holds a non-zero byte.
    ///
    /// # Complexity
    /// O(shards); takes every shard's read lock briefly.
    #[must_use]
    pub fn committed_bytes(&self) -> u64 {
        self.store.committed_bytes()
    }

    /// Checks `[offset, offset + len)` against `limit`, returning the end.
    fn range(offset: u64, len: usize, limit: u64) -> Option<u64> {
        let end = offset.checked_add(u64::try_from(len).ok()?)?;
        (end <= limit).then_some(end)
    }

    fn check_dev(&self, offset: u64, len: usize) -> Result<()> {
        Self::range(offset, len, self.size)
            .map(|_| ())
            .ok_or(HwError::VramOutOfRange {
                offset,
                len: len_u64(len),
                vram_size: self.size,
            })
    }

    fn check_cpu(&self, offset: u64, len: usize) -> Result<()> {
        Self::range(offset, len, self.visible_size)
            .map(|_| ())
            .ok_or(HwError::NotCpuVisible {
                offset,
                len: len_u64(len),
                visible_size: self.visible_size,
            })
    }

    /// CPU read through the BAR: copies VRAM `[offset, offset + buf.len())` into `buf`.
    ///
    /// # Errors
    /// [`HwError::NotCpuVisible`] if any byte lies outside the visible window (nothing is
    /// read).
    ///
    /// # Complexity
    /// O(pages touched).
    ///
    /// # Examples
    /// ```
    /// use pddgpu::hw::{HwConfig, SimHw};
    /// let hw = SimHw::new(HwConfig::default())?;
    /// hw.vram().cpu_write(0x1000, b"abc")?;
    /// let mut buf = [0u8; 3];
    /// hw.vram().cpu_read(0x1000, &mut buf)?;
    /// assert_eq!(&buf, b"abc");
    /// assert!(hw.vram().cpu_read(256 << 20, &mut buf).is_err()); // past the BAR
    /// # Ok::<(), pddgpu::hw::HwError>(())
    /// ```
    pub fn cpu_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_cpu(offset, buf.len())?;
        self.read_unchecked(offset, buf);
        Ok(())
    }

    /// CPU write through the BAR: copies `data` to VRAM `[offset, offset + data.len())`.
    ///
    /// # Errors
    /// [`HwError::NotCpuVisible`] if any byte lies outside the visible window (nothing is
    /// written).
    ///
    /// # Complexity
    /// O(pages touched); each page written with zeros is scanned to see if it can be
    /// released.
    pub fn cpu_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_cpu(offset, data.len())?;
        self.write_unchecked(offset, data);
        Ok(())
    }

    /// Device read: copies VRAM `[offset, offset + buf.len())` into `buf`, anywhere in VRAM.
    ///
    /// # Errors
    /// [`HwError::VramOutOfRange`] if the range leaves VRAM or overflows (nothing is read).
    pub fn dev_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_dev(offset, buf.len())?;
        self.read_unchecked(offset, buf);
        Ok(())
    }

    /// Device write: copies `data` to VRAM `[offset, offset + data.len())`, anywhere in VRAM.
    ///
    /// # Errors
    /// [`HwError::VramOutOfRange`] if the range leaves VRAM or overflows (nothing is written).
    pub fn dev_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_dev(offset, data.len())?;
        self.write_unchecked(offset, data);
        Ok(())
    }

    /// Reads a range already checked against VRAM.
    pub(crate) fn read_unchecked(&self, offset: u64, buf: &mut [u8]) {
        for p in pieces(offset, buf.len(), self.page_shift) {
            // An implicit store has every page: reads cannot fail.
            let _committed = self
                .store
                .read(p.page, p.off, &mut buf[p.pos..p.pos + p.len]);
        }
    }

    /// Writes a range already checked against VRAM.
    pub(crate) fn write_unchecked(&self, offset: u64, data: &[u8]) {
        for p in pieces(offset, data.len(), self.page_shift) {
            // An implicit store has every page: writes cannot fail.
            let _ = self.store.write(p.page, p.off, &data[p.pos..p.pos + p.len]);
        }
    }

    /// The page store (for the copy engine).
    pub(crate) fn store(&self) -> &PageStore {
        &self.store
    }

    /// Verifies the page store.
    ///
    /// # Errors
    /// A description of the first violated invariant.
    pub(crate) fn check(&self) -> core::result::Result<(), String> {
        self.store.check().map_err(|e| format!("vram: {e}"))
    }
}

/// Fills `[start, end)` of a store: partial pages byte by byte, whole pages of zero by
/// releasing them in one sweep. Every page is checked for presence first, so a fill that
/// would fault changes nothing; `fault` turns a missing page index into the error.
pub(crate) fn fill_range(
    store: &PageStore,
    page_shift: u32,
    start: u64,
    end: u64,
    value: u8,
    fault: impl Fn(u64) -> HwError,
) -> Result<()> {
    if start >= end {
        return Ok(());
    }
    let first_page = start >> page_shift;
    let last_page = (end - 1) >> page_shift;
    if let Some(page) = (first_page..=last_page).find(|&p| !store.is_present(p)) {
        return Err(fault(page));
    }
    let page_size = 1u64 << page_shift;
    let mut pos = start;
    while pos < end {
        let page = pos >> page_shift;
        let off = pos & (page_size - 1);
        let len = (page_size - off).min(end - pos);
        if value == 0 && off == 0 && len == page_size {
            // Run of whole pages: release them together.
            let n = (end - pos) >> page_shift;
            store.zero_pages(page, n);
            pos += n << page_shift;
            continue;
        }
        // Lossless: both values are below the page size (<= 64 KiB).
        store
            .fill(page, off as usize, len as usize, value)
            .map_err(|e| fault(e.0))?;
        pos += len;
    }
    Ok(())
}

/// A buffer length as u64 (lossless: usize is at most 64 bits on every supported target).
pub(crate) fn len_u64(len: usize) -> u64 {
    len as u64
}
