//! GEM create + close, single threaded, through the API an application calls.
//!
//! `cargo bench -p pddgpu --bench gem` measures, under criterion, one `GEM_CREATE`
//! followed by one `GEM_CLOSE` on a fresh device (DESIGN §7: "GEM create+close of
//! small GTT BOs in well under a microsecond per op single threaded"):
//!
//! | id | path | BO |
//! |---|---|---|
//! | `gtt_4k` | [`File::gem_create`] / [`File::gem_close`] | 4 KiB, `GTT` |
//! | `vram_4k` | the same | 4 KiB, `VRAM` |
//! | `vram_gtt_64k` | the same | 64 KiB, `VRAM \| GTT` |
//! | `ioctl_gtt_4k` | [`File::ioctl`] with the raw argument bytes | 4 KiB, `GTT` |
//!
//! One iteration is one create + close pair, so criterion's time per iteration is the
//! cost of the pair.
//!
//! Wall time on a shared machine is noisy; the stable measure is the instruction
//! count. `--pairs N [ID]` skips criterion and runs only `N` pairs of one workload
//! (default `gtt_4k`) inside `measured_pairs`, which callgrind can bracket:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*measured_pairs*' \
//!     target/release/deps/gem-<hash> --pairs 100000 gtt_4k
//! ```
//!
//! and the collected `Ir` divided by `N` is the instruction count per pair.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use pddgpu::gem::OpenFile;
use pddgpu::uapi::abi::{drm_gem_close, drm_pddgpu_gem_create};
use pddgpu::uapi::ioctl::{DRM_IOCTL_GEM_CLOSE, DRM_IOCTL_PDDGPU_GEM_CREATE};
use pddgpu::uapi::{AbiBytes, CreateFlags, Domains, GemCreate};
use pddgpu::{Device, DeviceConfig, File};

/// One benchmark workload.
#[derive(Clone, Copy, Debug)]
enum Workload {
    /// 4 KiB GTT BO through the typed GEM API.
    Gtt4k,
    /// 4 KiB VRAM BO through the typed GEM API.
    Vram4k,
    /// 64 KiB VRAM|GTT BO through the typed GEM API.
    VramGtt64k,
    /// 4 KiB GTT BO through the raw ioctl dispatcher.
    IoctlGtt4k,
}

impl Workload {
    const ALL: [Self; 4] = [
        Self::Gtt4k,
        Self::Vram4k,
        Self::VramGtt64k,
        Self::IoctlGtt4k,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Gtt4k => "gtt_4k",
            Self::Vram4k => "vram_4k",
            Self::VramGtt64k => "vram_gtt_64k",
            Self::IoctlGtt4k => "ioctl_gtt_4k",
        }
    }

    fn request(self) -> (u64, Domains) {
        match self {
            Self::Gtt4k | Self::IoctlGtt4k => (4 << 10, Domains::GTT),
            Self::Vram4k => (4 << 10, Domains::VRAM),
            Self::VramGtt64k => (64 << 10, Domains::VRAM | Domains::GTT),
        }
    }
}

/// A device with one open file, as an application sees it.
fn open() -> File {
    let dev = Device::new(DeviceConfig::default()).expect("device");
    Arc::clone(&dev).open().expect("open")
}

/// CPU time consumed so far by the calling thread (`/proc/thread-self/schedstat`),
/// if the kernel exposes it: on a loaded machine it excludes the time other processes
/// held the CPU.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// One create + close pair through the typed API.
fn typed_pair(file: &File, req: &GemCreate) {
    let handle = file.gem_create(black_box(req)).expect("GEM_CREATE");
    file.gem_close(black_box(handle)).expect("GEM_CLOSE");
}

/// One create + close pair through the raw ioctl dispatcher, argument bytes and all.
fn ioctl_pair(file: &File, create: &drm_pddgpu_gem_create) {
    let mut arg = [0u8; 32];
    create.write_prefix(&mut arg);
    file.ioctl(DRM_IOCTL_PDDGPU_GEM_CREATE.into(), black_box(&mut arg))
        .expect("GEM_CREATE");
    let handle = drm_pddgpu_gem_create::read_prefix(&arg).handle;
    let mut close = [0u8; 8];
    drm_gem_close { handle, pad: 0 }.write_prefix(&mut close);
    file.ioctl(DRM_IOCTL_GEM_CLOSE.into(), black_box(&mut close))
        .expect("GEM_CLOSE");
}

/// Runs `n` create + close pairs of `w` on `file`: the function callgrind brackets.
#[inline(never)]
fn measured_pairs(file: &File, w: Workload, n: u64) {
    let (size, domains) = w.request();
    let req = GemCreate::new(size, 0, domains, CreateFlags::empty()).expect("request");
    let raw = drm_pddgpu_gem_create {
        size,
        domain: domains.bits(),
        ..Default::default()
    };
    for _ in 0..n {
        match w {
            Workload::IoctlGtt4k => ioctl_pair(file, &raw),
            _ => typed_pair(file, &req),
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gem_create_close");
    g.throughput(Throughput::Elements(1));
    for w in Workload::ALL {
        let file = open();
        // Warm the caches (TTM's page pool, allocator metadata) outside the samples.
        measured_pairs(&file, w, 1000);
        g.bench_function(w.name(), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                measured_pairs(&file, w, iters);
                t.elapsed()
            });
        });
    }
    g.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--pairs") {
        let n = args
            .get(at + 1)
            .and_then(|v| v.parse().ok())
            .expect("--pairs N");
        let id = args.get(at + 2).map_or("gtt_4k", String::as_str);
        let w = Workload::ALL
            .into_iter()
            .find(|w| w.name() == id)
            .expect("workload id");
        let file = open();
        measured_pairs(&file, w, 1000);
        let (t, cpu) = (Instant::now(), thread_cpu());
        measured_pairs(&file, w, n);
        let per_pair = |d: Duration| d.as_secs_f64() * 1e9 / n.max(1) as f64;
        let wall = per_pair(t.elapsed());
        let cpu = cpu.zip(thread_cpu()).map_or("-".into(), |(a, b)| {
            format!("{:.1}", per_pair(b.saturating_sub(a)))
        });
        println!("{id}: {n} create+close pairs, {wall:.1} ns/pair wall, {cpu} ns/pair CPU");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
