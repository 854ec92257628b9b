//! System pages for TT objects, from the simulated system memory.

use std::sync::Arc;

use pddgpu_ttm::PageSource;

use crate::hw::{DmaAddr, HwError, SimHw};

/// TTM's [`PageSource`] backed by [`SimHw::sysmem`]: page chunks by order, named by DMA
/// address (the kernel's `alloc_pages` + `dma_map_page` under `ttm_pool`).
///
/// # Synchronization
/// Stateless; the system memory locks internally.
#[derive(Debug)]
pub struct HwPageSource {
    hw: Arc<SimHw>,
}

impl HwPageSource {
    /// A page source over `hw`'s system memory.
    #[must_use]
    pub fn new(hw: Arc<SimHw>) -> Self {
        Self { hw }
    }
}

impl PageSource for HwPageSource {
    fn alloc_pages(&self, order: u8) -> pddgpu_ttm::Result<u64> {
        match self.hw.sysmem().alloc_pages(u32::from(order)) {
            Ok(addr) => Ok(addr.get()),
            Err(HwError::OutOfMemory { .. }) => Err(pddgpu_ttm::Error::OutOfMemory),
            Err(e) => {
                tracing::error!("system page allocation of order {order}: {e}");
                Err(pddgpu_ttm::Error::InvalidArgument)
            }
        }
    }

    fn free_pages(&self, dma_addr: u64, order: u8) {
        if let Err(e) = self
            .hw
            .sysmem()
            .free_pages(DmaAddr::new(dma_addr), u32::from(order))
        {
            tracing::error!("freeing system pages {dma_addr:#x} of order {order}: {e}");
        }
    }

    fn clear_pages(&self, dma_addr: u64, order: u8) {
        let sysmem = self.hw.sysmem();
        // Zeroing whole pages releases their memory: O(committed pages), not O(bytes).
        if let Some(first) = sysmem.page_index(DmaAddr::new(dma_addr)) {
            sysmem.store().zero_pages(first, 1u64 << order);
        } else {
            tracing::error!("clearing foreign system pages {dma_addr:#x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::HwConfig;

    #[test]
    fn pages_come_from_system_memory_and_are_cleared() {
        let hw = Arc::new(SimHw::new(HwConfig::default()).expect("hw"));
        let src = HwPageSource::new(Arc::clone(&hw));
        let a = src.alloc_pages(2).expect("pages");
        assert_eq!(hw.sysmem().allocated_pages(), 4);
        hw.sysmem()
            .write(DmaAddr::new(a + 4096), &[7; 16])
            .expect("write");
        src.clear_pages(a, 2);
        let mut buf = [1u8; 16];
        hw.sysmem()
            .read(DmaAddr::new(a + 4096), &mut buf)
            .expect("read");
        assert_eq!(buf, [0; 16]);
        assert_eq!(hw.sysmem().committed_bytes(), 0);
        src.free_pages(a, 2);
        assert_eq!(hw.sysmem().allocated_pages(), 0);
        assert_eq!(src.alloc_pages(11), Err(pddgpu_ttm::Error::InvalidArgument));
    }
}
