//! Debug output in the kernel's exact text format (`drm_buddy_print`,
//! `drm_buddy_block_print`), so dumps can be compared with amdgpu's
//! `/sys/kernel/debug/dri/<n>/amdgpu_vram_mm`.

use core::fmt::{self, Write};

use crate::{Block, BuddyAllocator};

const SZ_1M: u64 = 1 << 20;

impl BuddyAllocator {
    /// Writes the allocator summary as `drm_buddy_print` does:
    ///
    /// ```text
    /// chunk_size: 4KiB, total: 16MiB, free: 12MiB, clear_free: 0MiB
    /// order-12 free:        8 MiB, blocks: 1
    /// ...
    /// order- 0 free:        4 KiB, blocks: 1
    /// ```
    ///
    /// Header `chunk_size: %lluKiB, total: %lluMiB, free: %lluMiB, clear_free: %lluMiB`,
    /// then one line per order from `max_order` down to 0: `order-%2d `, then
    /// `free: %8llu KiB` when that order's free bytes are below 1 MiB, else
    /// `free: %8llu MiB`, then `, blocks: %llu`.
    ///
    /// # Errors
    /// Those of `out`.
    ///
    /// # Examples
    /// ```
    /// use pddgpu_buddy::{AllocFlags, BuddyAllocator};
    /// let mut mm = BuddyAllocator::new(4 << 20, 4096)?;
    /// let page = mm.alloc_blocks(0, 4 << 20, 4096, 4096, AllocFlags::empty())?;
    /// let mut text = String::new();
    /// mm.print(&mut text).unwrap();
    /// assert!(text.starts_with("chunk_size: 4KiB, total: 4MiB, free: 3MiB, clear_free: 0MiB\n"));
    /// assert!(text.contains("order- 9 free:        2 MiB, blocks: 1\n"));
    /// assert!(text.ends_with("order- 0 free:        4 KiB, blocks: 1\n"));
    /// # mm.free_block(page.into_iter().next().unwrap(), Default::default())?;
    /// # Ok::<(), pddgpu_buddy::Error>(())
    /// ```
    pub fn print(&self, out: &mut impl Write) -> fmt::Result {
        writeln!(
            out,
            "chunk_size: {}KiB, total: {}MiB, free: {}MiB, clear_free: {}MiB",
            self.chunk_size() >> 10,
            self.size >> 20,
            self.avail >> 20,
            self.clear_avail >> 20
        )?;
        for order in (0..=self.max_order).rev() {
            let count = self.n_free_blocks(order);
            let free = count.saturating_mul(self.order_size(order));
            write!(out, "order-{order:2} ")?;
            if free < SZ_1M {
                write!(out, "free: {:8} KiB", free >> 10)?;
            } else {
                write!(out, "free: {:8} MiB", free >> 20)?;
            }
            writeln!(out, ", blocks: {count}")?;
        }
        Ok(())
    }

    /// Writes one block as `drm_buddy_block_print` does:
    /// `%#018llx-%#018llx: %llu` (start, exclusive end, size).
    ///
    /// # Errors
    /// Those of `out`.
    ///
    /// # Examples
    /// ```
    /// use pddgpu_buddy::{AllocFlags, BuddyAllocator};
    /// let mut mm = BuddyAllocator::new(4 << 20, 4096)?;
    /// let blocks = mm.alloc_blocks(1 << 20, 2 << 20, 1 << 20, 4096, AllocFlags::empty())?;
    /// let mut text = String::new();
    /// mm.block_print(&blocks[0], &mut text).unwrap();
    /// assert_eq!(text, "0x0000000000100000-0x0000000000200000: 1048576\n");
    /// # mm.free_blocks(blocks, Default::default())?;
    /// # Ok::<(), pddgpu_buddy::Error>(())
    /// ```
    pub fn block_print(&self, block: &Block, out: &mut impl Write) -> fmt::Result {
        writeln!(
            out,
            "{:#018x}-{:#018x}: {}",
            block.offset(),
            block.end(),
            block.size()
        )
    }
}
