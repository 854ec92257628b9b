//! `pddgpu stress`: the seed-004 concurrency test through the public GEM API.
//!
//! `threads` clients, each its own [`File`] on one shared [`Device`], start together
//! (a barrier) and each performs `iterations` rounds of `GEM_CREATE` + `GEM_CLOSE` of a
//! random small BO (4 KiB-256 KiB; VRAM, GTT or either, drawn from the seeded
//! xorshift64 stream of the thread). Afterwards every file is closed and the device is
//! checked: its invariants ([`Device::check`], which re-derives TTM's LRU and usage and
//! both allocators), zero VRAM and GTT usage, and an empty leak report. The verdict
//! passes only if every check holds; creation failures (e.g. `ENOMEM` under memory
//! pressure) are counted and reported by errno but are not by themselves a failure.
//!
//! Locking: the clients share nothing but the device; each thread owns its file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use pddgpu::device::{Device, DeviceConfig};
use pddgpu::gem::{File, OpenFile};
use pddgpu::hw::HwConfig;
use pddgpu::uapi::{CreateFlags, Domains, GemCreate};
use pddgpu_bench::rng::XorShift64;

use crate::error::{CliError, Result};
use crate::report::{human, human_ns, LatencySummary};

/// What `pddgpu stress` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StressConfig {
    /// Client threads (each with its own file), ≥ 1.
    pub threads: u32,
    /// Create + close rounds per thread, ≥ 1.
    pub iterations: u32,
    /// VRAM size in bytes.
    pub vram: u64,
    /// CPU-visible VRAM window in bytes.
    pub visible: u64,
    /// GTT size in bytes.
    pub gtt: u64,
    /// Seed of the size and domain draws (thread `t` uses its own stream).
    pub seed: u64,
}

impl Default for StressConfig {
    /// The seed-004 test: 100 threads × 1000 create/close on the DESIGN §5.1 device.
    fn default() -> Self {
        let hw = HwConfig::default();
        Self {
            threads: 100,
            iterations: 1000,
            vram: hw.vram_size,
            visible: hw.visible_vram_size,
            gtt: hw.gtt_size,
            seed: 1,
        }
    }
}

/// The outcome of a stress run.
#[derive(Debug, Clone, PartialEq)]
pub struct StressOutcome {
    /// What ran.
    pub config: StressConfig,
    /// Successful creations (each was closed again).
    pub creates: u64,
    /// Failed creations by errno name.
    pub create_failures: BTreeMap<String, u64>,
    /// Failed closes (always a bug: every handle closed was just created).
    pub close_failures: u64,
    /// Latency of the successful creations.
    pub create_latency_ns: LatencySummary,
    /// Wall time of the concurrent phase in seconds.
    pub elapsed_secs: f64,
    /// Every check that failed, described; empty on success.
    pub problems: Vec<String>,
}

impl StressOutcome {
    /// Whether every check passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The text `pddgpu stress` prints.
    #[must_use]
    pub fn render_text(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "stress   {} threads x {} create/close, VRAM {} (visible {}), GTT {}, seed {}",
            c.threads,
            c.iterations,
            human(c.vram),
            human(c.visible),
            human(c.gtt),
            c.seed
        );
        let failed: u64 = self.create_failures.values().sum();
        let _ = write!(s, "creates  {} ok, {failed} failed", self.creates);
        if failed > 0 {
            let parts: Vec<String> = self
                .create_failures
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = write!(s, " ({})", parts.join(", "));
        }
        let _ = writeln!(s, "; {} close failures", self.close_failures);
        let l = &self.create_latency_ns;
        let _ = writeln!(
            s,
            "create   p50 {}  p99 {}  max {}",
            human_ns(l.p50),
            human_ns(l.p99),
            human_ns(l.max)
        );
        let rate = if self.elapsed_secs > 0.0 {
            self.creates as f64 / self.elapsed_secs
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "elapsed  {:.2} s ({rate:.0} create+close/s)",
            self.elapsed_secs
        );
        if self.passed() {
            let _ = writeln!(
                s,
                "checks   device invariants OK, VRAM and GTT usage 0 after close, no leaks"
            );
            let _ = writeln!(s, "verdict  PASS");
        } else {
            for p in &self.problems {
                let _ = writeln!(s, "problem  {p}");
            }
            let _ = writeln!(s, "verdict  FAIL");
        }
        s
    }
}

/// The Linux name of an errno value (`"ENOMEM"`), or `"E<n>"` for others.
#[must_use]
pub fn errno_name(raw: i32) -> String {
    let name = match raw {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        12 => "ENOMEM",
        14 => "EFAULT",
        16 => "EBUSY",
        19 => "ENODEV",
        22 => "EINVAL",
        25 => "ENOTTY",
        28 => "ENOSPC",
        _ => return format!("E{raw}"),
    };
    name.to_owned()
}

/// Per-thread results.
#[derive(Debug, Default)]
struct ClientResult {
    creates: u64,
    failures: BTreeMap<String, u64>,
    close_failures: u64,
    latencies: Vec<u64>,
}

fn client(file: &File, thread: u32, cfg: StressConfig, start: &Barrier) -> ClientResult {
    // A distinct, never-zero stream per thread.
    let mut rng = XorShift64::new(
        (cfg.seed ^ 0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(thread).wrapping_mul(0x2545_F491_4F6C_DD1D))
            | 1,
    );
    let mut r = ClientResult {
        latencies: Vec::with_capacity(usize::try_from(cfg.iterations).unwrap_or(0)),
        ..ClientResult::default()
    };
    start.wait();
    for _ in 0..cfg.iterations {
        let size = 4096 * (1 + rng.below(64));
        let domains = match rng.below(3) {
            0 => Domains::VRAM,
            1 => Domains::GTT,
            _ => Domains::VRAM | Domains::GTT,
        };
        let req = match GemCreate::new(size, 0, domains, CreateFlags::empty()) {
            Ok(req) => req,
            Err(e) => {
                *r.failures
                    .entry(errno_name(e.errno().raw_os_error()))
                    .or_default() += 1;
                continue;
            }
        };
        let t = Instant::now();
        match file.gem_create(&req) {
            Ok(h) => {
                r.latencies
                    .push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                r.creates += 1;
                if file.gem_close(h).is_err() {
                    r.close_failures += 1;
                }
            }
            Err(e) => {
                let name = errno_name(file.errno(&e).raw_os_error());
                *r.failures.entry(name).or_default() += 1;
            }
        }
    }
    r
}

/// Runs the stress test.
///
/// # Errors
/// [`CliError::InvalidArgument`] for zero threads or iterations or a device the driver
/// refuses (the driver's message), and [`CliError::Driver`] if a client cannot open its
/// file or a thread panics. A failing check is not an error: it is in the outcome.
pub fn run(cfg: StressConfig) -> Result<StressOutcome> {
    if cfg.threads == 0 || cfg.iterations == 0 {
        return Err(CliError::InvalidArgument(
            "stress needs at least one thread and one iteration".to_owned(),
        ));
    }
    let dev = Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: cfg.vram,
            visible_vram_size: cfg.visible,
            gtt_size: cfg.gtt,
            ..HwConfig::default()
        },
        ..DeviceConfig::default()
    })
    .map_err(|e| CliError::InvalidArgument(format!("device: {e}")))?;
    let files: Vec<File> = (0..cfg.threads)
        .map(|_| dev.open())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| CliError::Driver(format!("open: {e}")))?;
    let start = Arc::new(Barrier::new(files.len()));
    let t0 = Instant::now();
    let results: Vec<thread::Result<ClientResult>> = thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .zip(0u32..)
            .map(|(f, t)| {
                let start = Arc::clone(&start);
                s.spawn(move || client(f, t, cfg, &start))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let elapsed_secs = t0.elapsed().as_secs_f64();
    drop(files);

    let mut total = ClientResult::default();
    for r in results {
        let r = r.map_err(|_| CliError::Driver("a client thread panicked".to_owned()))?;
        total.creates += r.creates;
        total.close_failures += r.close_failures;
        total.latencies.extend(r.latencies);
        for (k, v) in r.failures {
            *total.failures.entry(k).or_default() += v;
        }
    }
    let mut problems = Vec::new();
    if total.close_failures > 0 {
        problems.push(format!("{} GEM_CLOSE calls failed", total.close_failures));
    }
    dev.delayed_delete(false);
    if let Err(e) = dev.check() {
        problems.push(format!("device invariants: {e}"));
    }
    let m = dev.mem_info();
    if m.vram_used != 0 || m.gtt_used != 0 {
        problems.push(format!(
            "usage after every file closed: VRAM {} B, GTT {} B",
            m.vram_used, m.gtt_used
        ));
    }
    let leaks = dev.shutdown();
    if !leaks.is_empty() {
        problems.push(format!("leak report at shutdown: {leaks}"));
    }
    Ok(StressOutcome {
        config: cfg,
        creates: total.creates,
        create_failures: total.failures,
        close_failures: total.close_failures,
        create_latency_ns: LatencySummary::from_samples(&mut total.latencies),
        elapsed_secs,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn small(threads: u32, iterations: u32) -> StressConfig {
        StressConfig {
            threads,
            iterations,
            vram: 64 * MIB,
            visible: 16 * MIB,
            gtt: 64 * MIB,
            seed: 5,
        }
    }

    #[test]
    fn eight_threads_pass_with_every_create_closed() {
        let out = run(small(8, 50)).unwrap();
        assert!(out.passed(), "{:?}", out.problems);
        let failed: u64 = out.create_failures.values().sum();
        assert_eq!(out.creates + failed, 400);
        // 64 MiB domains never fill with 8 live BOs of at most 256 KiB.
        assert_eq!(failed, 0);
        assert_eq!(out.create_latency_ns.count, 400);
        assert!(out.create_latency_ns.p50 <= out.create_latency_ns.max);
        let text = out.render_text();
        assert!(
            text.contains("creates  400 ok, 0 failed; 0 close failures"),
            "{text}"
        );
        assert!(text.ends_with("verdict  PASS\n"), "{text}");
    }

    #[test]
    fn zero_threads_or_iterations_are_einval() {
        for cfg in [small(0, 10), small(4, 0)] {
            let e = run(cfg).unwrap_err();
            assert_eq!(e.errno(), 22, "{e}");
        }
    }

    #[test]
    fn a_device_the_driver_refuses_is_einval() {
        let mut cfg = small(1, 1);
        cfg.visible = cfg.vram * 2;
        assert_eq!(run(cfg).unwrap_err().errno(), 22);
    }

    #[test]
    fn failing_checks_give_a_fail_verdict() {
        let out = StressOutcome {
            config: small(1, 1),
            creates: 1,
            create_failures: BTreeMap::from([("ENOMEM".to_owned(), 2)]),
            close_failures: 0,
            create_latency_ns: LatencySummary::default(),
            elapsed_secs: 1.0,
            problems: vec!["usage after every file closed: VRAM 4096 B, GTT 0 B".into()],
        };
        assert!(!out.passed());
        let text = out.render_text();
        assert!(text.contains("creates  1 ok, 2 failed (ENOMEM 2); 0 close failures"));
        assert!(text.contains("problem  usage after every file closed: VRAM 4096 B, GTT 0 B"));
        assert!(text.ends_with("verdict  FAIL\n"));
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(12), "ENOMEM");
        assert_eq!(errno_name(28), "ENOSPC");
        assert_eq!(errno_name(99), "E99");
    }
}
