//! A simulated 16 GiB VRAM heap under a realistic mix of allocations, as the amdgpu VRAM
//! manager would issue them: 2 MiB-multiple render targets, contiguous scanout buffers,
//! small textures, a CPU-visible buffer in the first 256 MiB, cleared allocations and
//! cleared frees, a GPU reset. Prints the kernel-format dump and statistics, verifies
//! the allocator after every phase, and exits non-zero on any failure.
//!
//! `cargo run --release -p pddgpu-buddy --example vram_demo`

use std::process::ExitCode;
use std::time::Instant;

use pddgpu_buddy::{AllocFlags, Block, BuddyAllocator, BuddyRequest, Error, FreeFlags, Window};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const VISIBLE: u64 = 256 * MIB;

/// A tiny deterministic generator (xorshift64).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One buffer object's VRAM: its blocks and whether it is wiped on release.
struct Bo {
    kind: &'static str,
    blocks: Vec<Block>,
    wipe_on_release: bool,
}

fn verify(mm: &BuddyAllocator, phase: &str) -> Result<(), String> {
    mm.check().map_err(|e| format!("{phase}: {e}"))
}

/// The amdgpu rule: min_block_size is the page alignment, raised to 2 MiB when the size
/// is a 2 MiB multiple.
fn request(size: u64, align: u64) -> Result<BuddyRequest, Error> {
    let min = if size % (2 * MIB) == 0 {
        2 * MIB
    } else {
        align
    };
    BuddyRequest::new(size, min)
}

fn run() -> Result<(), String> {
    let mut vram = BuddyAllocator::new(16 * GIB, 4 * KIB).map_err(|e| e.to_string())?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut bos: Vec<Bo> = Vec::new();
    let (mut n_alloc, mut n_fail, mut cleared_hits) = (0u64, 0u64, 0u64);
    let t = Instant::now();

    // Scanout buffers: 4K 32bpp framebuffers, contiguous (3840 x 2160 x 4 = 31.6 MiB).
    for _ in 0..3 {
        let req = request(33_177_600_u64.next_multiple_of(4 * KIB), 4 * KIB)
            .map_err(|e| e.to_string())?
            .flags(AllocFlags::CONTIGUOUS);
        let blocks = vram.alloc(&req).map_err(|e| format!("scanout: {e}"))?;
        let sorted = blocks.windows(2).all(|w| w[0].end() == w[1].offset());
        if !sorted {
            return Err("scanout buffer is not contiguous".into());
        }
        n_alloc += 1;
        bos.push(Bo {
            kind: "scanout",
            blocks,
            wipe_on_release: false,
        });
    }
    // A CPU-visible staging buffer in the first 256 MiB (BAR window).
    let req = request(24 * MIB, 4 * KIB)
        .map_err(|e| e.to_string())?
        .window(Window::Range(0..VISIBLE));
    let staging = vram.alloc(&req).map_err(|e| format!("staging: {e}"))?;
    if staging.iter().any(|b| b.end() > VISIBLE) {
        return Err("staging buffer outside the visible window".into());
    }
    n_alloc += 1;
    bos.push(Bo {
        kind: "staging",
        blocks: staging,
        wipe_on_release: true,
    });
    verify(&vram, "initial buffers")?;

    // Churn: render targets (2 MiB multiples), textures (4 KiB..1 MiB, 64 KiB aligned),
    // half of the frees wiped and returned CLEARED, half of the allocations asking
    // for CLEAR memory.
    for round in 0..20_000u64 {
        if bos.len() > 40 && rng.below(2) == 0 {
            let bo = bos.swap_remove(4 + rng.below(bos.len() as u64 - 4) as usize);
            let flags = if bo.wipe_on_release {
                FreeFlags::CLEARED
            } else {
                FreeFlags::empty()
            };
            vram.free_blocks(bo.blocks, flags)
                .map_err(|e| format!("free {}: {e}", bo.kind))?;
            continue;
        }
        let (kind, req) = if rng.below(3) == 0 {
            let size = (1 + rng.below(16)) * 2 * MIB;
            ("render target", request(size, 4 * KIB))
        } else {
            let size = (1 + rng.below(256)) * 4 * KIB;
            ("texture", request(size, 64 * KIB))
        };
        let mut req = req.map_err(|e| e.to_string())?;
        if round % 2 == 0 {
            req = req.flags(AllocFlags::CLEAR);
        }
        match vram.alloc(&req) {
            Ok(blocks) => {
                n_alloc += 1;
                cleared_hits += blocks.iter().filter(|b| b.is_clear()).count() as u64;
                let wipe = rng.below(2) == 0;
                bos.push(Bo {
                    kind,
                    blocks,
                    wipe_on_release: wipe,
                });
            }
            Err(Error::NoSpace) => n_fail += 1,
            Err(e) => return Err(format!("{kind}: {e}")),
        }
        if round % 5_000 == 0 {
            verify(&vram, "churn")?;
        }
    }
    verify(&vram, "after churn")?;
    let elapsed = t.elapsed();

    println!("== VRAM buddy allocator after {n_alloc} allocations ({n_fail} NoSpace)");
    let mut text = String::new();
    vram.print(&mut text).map_err(|e| e.to_string())?;
    print!("{text}");
    println!("scanout buffers:");
    for bo in bos.iter().filter(|b| b.kind == "scanout") {
        let mut line = String::new();
        for b in &bo.blocks {
            vram.block_print(b, &mut line).map_err(|e| e.to_string())?;
        }
        print!("{line}");
    }
    let used: u64 = (0..=vram.max_order()).map(|o| vram.n_used_blocks(o)).sum();
    println!(
        "live BOs: {}, allocated blocks: {used}, avail: {} MiB, clear_avail: {} MiB, \
         blocks handed out already clear: {cleared_hits}, time: {:.1} ms",
        bos.len(),
        vram.avail() >> 20,
        vram.clear_avail() >> 20,
        elapsed.as_secs_f64() * 1e3
    );

    // A GPU reset: VRAM contents can no longer be trusted.
    vram.reset_clear(false);
    verify(&vram, "reset")?;
    if vram.clear_avail() != 0 {
        return Err("reset_clear(false) left clear memory".into());
    }
    for bo in bos.drain(..) {
        vram.free_blocks(bo.blocks, FreeFlags::empty())
            .map_err(|e| e.to_string())?;
    }
    verify(&vram, "teardown")?;
    vram.fini().map_err(|leak| leak.to_string())?;
    println!("verified: check() after every phase, nothing leaked");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vram_demo: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
