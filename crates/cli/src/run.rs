//! `pddgpu run`: a scenario on a simulated device, driven through the public GEM API.
//!
//! One [`Device`] is built from the scenario's sizes; each client thread opens its own
//! [`File`] and takes `ops_per_client` steps (or stops at `max_seconds`). A step first
//! frees the client's BOs whose lifetime is over (verifying their pattern), then does
//! one action drawn from the mix:
//!
//! - **create**: a kind drawn by weight, a size from its distribution, `GEM_CREATE` with
//!   its domains and flags (timed); then, unless the kind is `no_cpu_access`, a CPU map
//!   and the BO's byte pattern written through it. A VRAM-preferring kind is only
//!   created while the client's share of `vram_pressure × VRAM` is not reached (else
//!   the step idles), which keeps VRAM oversubscribed by that factor.
//! - **revalidate**: `GEM_OP` pin into the kind's preferred domain and unpin, moving a
//!   BO evicted earlier back (as a command submission's validation would).
//! - **readback**: map a live BO and verify its whole pattern.
//! - **idle**.
//!
//! When every client has taken its steps the device's end state is sampled (usage,
//! largest free VRAM block, the kernel-format dumps) while the BOs are still alive;
//! then every client verifies and closes what it holds. The integrity verdict is OK
//! only if every pattern verified, the device invariants hold ([`Device::check`]) and
//! nothing is left allocated after every file is closed.
//!
//! Locking: clients share only the device; the peak-usage marks are atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pddgpu::device::{Device, DeviceConfig};
use pddgpu::gem::{File, OpenFile};
use pddgpu::hw::HwConfig;
use pddgpu::uapi::{CreateFlags, Domains, GemCreate, GemOp, GemOpKind, Handle, InfoQuery};
use pddgpu_bench::rng::XorShift64;

use pddgpu::ttm_glue::{GttBacking, VramBacking};

use crate::error::{CliError, Result};
use crate::map_svg::{Domain, MemoryMapSnapshot, Region};
use crate::progress::Progress;
use crate::report::{
    fragmentation, DeviceSizes, EndState, Failures, Integrity, LatencySummary, OpCounts, PeakUsage,
    RunReport, SCHEMA,
};
use crate::scenario::{BoKind, CreateFlagName, DomainName, Scenario};
use crate::stress::errno_name;
use crate::trace::{
    DeviceCounters, Observed, Op, StatsPoint, Trace, TraceDevice, TraceGuard, TraceHeader,
};

/// Bytes per pattern chunk: a multiple of 256, so every chunk of a BO is the same.
pub(crate) const CHUNK: usize = 64 * 1024;

/// What a run produced: the report and the managers' debug dumps at the end state.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The report.
    pub report: RunReport,
    /// The VRAM manager's debug dump at the end state.
    pub vram_dump: String,
    /// The GTT manager's debug dump at the end state.
    pub gtt_dump: String,
    /// Where every live BO sat at the end state (VRAM blocks, GART ranges).
    pub map: MemoryMapSnapshot,
}

/// The pattern chunk of a BO with pattern seed `seed`.
pub(crate) fn pattern_chunk(seed: u8) -> Vec<u8> {
    (0..CHUNK)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn domains_of(kind: &BoKind) -> Domains {
    kind.domains.iter().fold(Domains::empty(), |d, n| {
        d | match n {
            DomainName::Cpu => Domains::CPU,
            DomainName::Gtt => Domains::GTT,
            DomainName::Vram => Domains::VRAM,
        }
    })
}

fn preferred_of(kind: &BoKind) -> Domains {
    match kind.domains.first() {
        Some(DomainName::Vram) => Domains::VRAM,
        Some(DomainName::Gtt) => Domains::GTT,
        _ => Domains::CPU,
    }
}

fn flags_of(kind: &BoKind) -> CreateFlags {
    kind.flags.iter().fold(CreateFlags::empty(), |f, n| {
        f | match n {
            CreateFlagName::CpuAccessRequired => CreateFlags::CPU_ACCESS_REQUIRED,
            CreateFlagName::NoCpuAccess => CreateFlags::NO_CPU_ACCESS,
            CreateFlagName::VramCleared => CreateFlags::VRAM_CLEARED,
            CreateFlagName::VramContiguous => CreateFlags::VRAM_CONTIGUOUS,
            CreateFlagName::VramWipeOnRelease => CreateFlags::VRAM_WIPE_ON_RELEASE,
            CreateFlagName::Topdown => CreateFlags::TOPDOWN,
        }
    })
}

/// One live BO of a client.
#[derive(Debug)]
struct LiveBo {
    handle: Handle,
    kind: usize,
    size: u64,
    expires: u64,
    /// `Some(seed)` if its pattern was written (CPU-accessible kinds).
    pattern: Option<u8>,
}

/// What one client counted.
#[derive(Debug, Default)]
struct ClientTally {
    ops: OpCounts,
    latencies: Vec<u64>,
    failures: Failures,
    verified_bos: u64,
    verified_bytes: u64,
    mismatches: u64,
    first_mismatch: Option<String>,
}

/// Shared between clients and the main thread.
#[derive(Debug)]
struct Shared {
    peak_vram: AtomicU64,
    peak_visible: AtomicU64,
    peak_gtt: AtomicU64,
    deadline: Option<Instant>,
    stop: AtomicBool,
    /// Each client's live BOs at the end state: (owner, handle, kind name).
    live_at_end: Mutex<Vec<(u32, Handle, String)>>,
}

struct Client<'a> {
    id: u32,
    trace: Option<&'a Trace>,
    step: u64,
    file: &'a File,
    scn: &'a Scenario,
    shared: &'a Shared,
    rng: XorShift64,
    live: Vec<LiveBo>,
    vram_live: u64,
    budget: u64,
    tally: ClientTally,
}

impl<'a> Client<'a> {
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.rng.below(n)
        }
    }

    /// Counts a failure; returns its errno name.
    fn fail(&mut self, e: &pddgpu::gem::Error) -> String {
        let name = errno_name(self.file.errno(e).raw_os_error());
        self.tally.failures.record(&name);
        name
    }

    /// Takes the trace lock if tracing: the operation that follows and its record are
    /// then one step of the global order.
    fn traced(&self) -> Option<TraceGuard<'a>> {
        self.trace.map(Trace::lock)
    }

    fn record(&self, guard: Option<TraceGuard<'_>>, kind: usize, op: Op, result: Observed) {
        if let Some(g) = guard {
            let kind = self.scn.kinds.get(kind).map_or("", |k| k.name.as_str());
            g.record(self.id, self.step, kind, op, result);
        }
    }

    fn note_usage(&self) {
        let m = self.file.device().mem_info();
        self.shared
            .peak_vram
            .fetch_max(m.vram_used, Ordering::Relaxed);
        self.shared
            .peak_visible
            .fetch_max(m.vis_vram_used, Ordering::Relaxed);
        self.shared
            .peak_gtt
            .fetch_max(m.gtt_used, Ordering::Relaxed);
    }

    fn step(&mut self, step: u64) {
        self.step = step;
        // Free what expired.
        let mut i = 0;
        while i < self.live.len() {
            if self.live[i].expires <= step {
                let bo = self.live.swap_remove(i);
                self.release(bo);
            } else {
                i += 1;
            }
        }
        let mix = self.scn.workload.mix;
        let total = u64::from(mix.create)
            + u64::from(mix.revalidate)
            + u64::from(mix.readback)
            + u64::from(mix.idle);
        let r = self.below(total);
        if r < u64::from(mix.create) {
            self.create(step);
        } else if r < u64::from(mix.create) + u64::from(mix.revalidate) {
            self.revalidate();
        } else if r < u64::from(mix.create) + u64::from(mix.revalidate) + u64::from(mix.readback)
            && !self.live.is_empty()
        {
            let i = usize::try_from(self.below(self.live.len() as u64)).unwrap_or(0);
            if self.verify(i) {
                self.tally.ops.readbacks += 1;
            }
        }
    }

    fn create(&mut self, step: u64) {
        let total: u64 = self.scn.kinds.iter().map(|k| u64::from(k.weight)).sum();
        let mut pick = self.below(total);
        let mut k = 0;
        for (i, kind) in self.scn.kinds.iter().enumerate() {
            if pick < u64::from(kind.weight) {
                k = i;
                break;
            }
            pick -= u64::from(kind.weight);
        }
        let kind = &self.scn.kinds[k];
        let size = {
            let rng = &mut self.rng;
            kind.size.draw(|n| if n == 0 { 0 } else { rng.below(n) })
        };
        let vram_pref = preferred_of(kind) == Domains::VRAM;
        if vram_pref && self.vram_live + size > self.budget {
            return;
        }
        let life = kind.lifetime.min + self.below(kind.lifetime.max - kind.lifetime.min + 1);
        let req = match GemCreate::new(size, kind.alignment.0, domains_of(kind), flags_of(kind)) {
            Ok(r) => r,
            Err(e) => {
                self.tally
                    .failures
                    .record(&errno_name(e.errno().raw_os_error()));
                return;
            }
        };
        let op = Op::Create {
            size,
            alignment: kind.alignment.0,
            domains: req.domains().bits(),
            flags: req.flags().bits(),
        };
        let guard = self.traced();
        let t = Instant::now();
        let created = self.file.gem_create(&req);
        let elapsed = t.elapsed();
        let handle = match created {
            Ok(h) => {
                let mut seen = Observed::placed(self.file, h);
                seen.handle = Some(h.get());
                self.record(guard, k, op, seen);
                h
            }
            Err(e) => {
                let name = self.fail(&e);
                self.record(guard, k, op, Observed::failed(name));
                return;
            }
        };
        self.tally
            .latencies
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        self.tally.ops.creates += 1;
        self.note_usage();
        let mut bo = LiveBo {
            handle,
            kind: k,
            size,
            expires: step + life,
            pattern: None,
        };
        if !kind.flags.contains(&CreateFlagName::NoCpuAccess) {
            let seed = (self.rng.next_u64() & 0xff) as u8 | 1;
            let op = Op::MapWrite {
                handle: handle.get(),
                pattern: seed,
            };
            let guard = self.traced();
            match write_pattern(self.file, handle, size, seed) {
                Ok(()) => {
                    bo.pattern = Some(seed);
                    self.record(guard, k, op, Observed::placed(self.file, handle));
                }
                Err(e) => {
                    let name = self.fail(&e);
                    self.record(guard, k, op, Observed::failed(name));
                }
            }
            self.tally.ops.maps += 1;
        }
        if vram_pref {
            self.vram_live += size;
        }
        self.live.push(bo);
    }

    /// Verifies live BO `i`'s pattern; false if it has none or could not be mapped.
    fn verify(&mut self, i: usize) -> bool {
        let (h, size, Some(seed)) = (self.live[i].handle, self.live[i].size, self.live[i].pattern)
        else {
            return false;
        };
        self.tally.ops.maps += 1;
        let kind = self.live[i].kind;
        let op = Op::Readback {
            handle: h.get(),
            pattern: seed,
        };
        let guard = self.traced();
        match verify_pattern(self.file, h, size, seed) {
            Err(e) => {
                let name = self.fail(&e);
                self.record(guard, kind, op, Observed::failed(name));
                false
            }
            Ok(Some(bad)) => {
                let mut seen = Observed::placed(self.file, h);
                seen.verified = Some(false);
                self.record(guard, kind, op, seen);
                self.tally.mismatches += 1;
                if self.tally.first_mismatch.is_none() {
                    self.tally.first_mismatch = Some(format!(
                        "client {} handle {} ({}) {bad}",
                        self.id,
                        h.get(),
                        self.scn.kinds[kind].name,
                    ));
                }
                true
            }
            Ok(None) => {
                let mut seen = Observed::placed(self.file, h);
                seen.verified = Some(true);
                self.record(guard, kind, op, seen);
                self.tally.verified_bos += 1;
                self.tally.verified_bytes += size;
                true
            }
        }
    }

    fn revalidate(&mut self) {
        if self.live.is_empty() {
            return;
        }
        let i = usize::try_from(self.below(self.live.len() as u64)).unwrap_or(0);
        let (handle, kind) = (self.live[i].handle, self.live[i].kind);
        let pref = preferred_of(&self.scn.kinds[kind]);
        let op = Op::Pin {
            handle: handle.get(),
            domains: pref.bits(),
        };
        let guard = self.traced();
        if let Err(e) = self.file.gem_op(&GemOp {
            handle,
            op: GemOpKind::Pin(pref),
        }) {
            let name = self.fail(&e);
            self.record(guard, kind, op, Observed::failed(name));
            return;
        }
        self.record(guard, kind, op, Observed::placed(self.file, handle));
        let op = Op::Unpin {
            handle: handle.get(),
        };
        let guard = self.traced();
        match self.file.gem_op(&GemOp {
            handle,
            op: GemOpKind::Unpin,
        }) {
            Ok(()) => self.record(guard, kind, op, Observed::default()),
            Err(e) => {
                let name = self.fail(&e);
                self.record(guard, kind, op, Observed::failed(name));
            }
        }
        self.tally.ops.revalidations += 1;
        self.note_usage();
    }

    fn release(&mut self, bo: LiveBo) {
        let idx = self.live.len();
        self.live.push(bo);
        self.verify(idx);
        let Some(bo) = self.live.pop() else { return };
        if preferred_of(&self.scn.kinds[bo.kind]) == Domains::VRAM {
            self.vram_live -= bo.size;
        }
        let op = Op::Close {
            handle: bo.handle.get(),
        };
        let guard = self.traced();
        match self.file.gem_close(bo.handle) {
            Ok(()) => {
                self.record(guard, bo.kind, op, Observed::default());
                self.tally.ops.frees += 1;
            }
            Err(e) => {
                let name = self.fail(&e);
                self.record(guard, bo.kind, op, Observed::failed(name));
            }
        }
    }
}

/// Writes the pattern of seed `seed` into the whole BO `h` through a CPU map.
pub(crate) fn write_pattern(
    file: &File,
    h: Handle,
    size: u64,
    seed: u8,
) -> pddgpu::gem::Result<()> {
    let map = file.map(h)?;
    let chunk = pattern_chunk(seed);
    let mut off = 0u64;
    while off < size {
        let n = usize::try_from((size - off).min(CHUNK as u64)).unwrap_or(CHUNK);
        map.write(off, &chunk[..n])?;
        off += n as u64;
    }
    Ok(())
}

/// Maps the whole BO `h` and compares it with the pattern of seed `seed`: `Ok(None)`
/// if it matches, `Ok(Some(description))` of the first wrong byte otherwise.
pub(crate) fn verify_pattern(
    file: &File,
    h: Handle,
    size: u64,
    seed: u8,
) -> pddgpu::gem::Result<Option<String>> {
    let map = file.map(h)?;
    let want = pattern_chunk(seed);
    let mut got = vec![0u8; CHUNK];
    let mut off = 0u64;
    while off < size {
        let n = usize::try_from((size - off).min(CHUNK as u64)).unwrap_or(CHUNK);
        map.read(off, &mut got[..n])?;
        if got[..n] != want[..n] {
            let j = (0..n).find(|&j| got[j] != want[j]).unwrap_or(0);
            return Ok(Some(format!(
                "offset {:#x}: expected {:#04x}, found {:#04x}",
                off + j as u64,
                want[j],
                got[j]
            )));
        }
        off += n as u64;
    }
    Ok(None)
}
/// The simulated device of these sizes, every other setting the default (what `run`
/// uses and what `replay` rebuilds from a trace header).
///
/// # Errors
/// [`CliError::InvalidArgument`] if the driver refuses the sizes.
pub(crate) fn new_device(d: &TraceDevice) -> Result<std::sync::Arc<Device>> {
    Device::new(DeviceConfig {
        hw: HwConfig {
            vram_size: d.vram_size,
            visible_vram_size: d.visible_size,
            gtt_size: d.gtt_size,
            ..HwConfig::default()
        },
        ..DeviceConfig::default()
    })
    .map_err(|e| CliError::InvalidArgument(format!("device: {e}")))
}

/// Runs `scn`; `progress` advances by one per client step; every operation is
/// recorded in `trace` if given.
///
/// # Errors
/// [`CliError::InvalidArgument`] if the driver refuses the device sizes;
/// [`CliError::Driver`] if a file cannot be opened or a client thread panics.
///
/// With `check`, the whole-device invariant checker ([`pddgpu::invariants::check_device`])
/// also runs at the quiescent end state (every client paused, its BOs alive, all files
/// given) and again after every file is closed; a violation fails the integrity verdict.
pub fn run(
    scn: &Scenario,
    progress: &Progress,
    trace: Option<&Trace>,
    check: bool,
) -> Result<RunOutcome> {
    let dev = new_device(&TraceHeader::for_scenario(scn).device)?;
    let threads = scn.workload.threads;
    let files: Vec<File> = (0..threads)
        .map(|_| dev.open())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| CliError::Driver(format!("open: {e}")))?;
    let t0 = Instant::now();
    let shared = Shared {
        peak_vram: AtomicU64::new(0),
        peak_visible: AtomicU64::new(0),
        peak_gtt: AtomicU64::new(0),
        deadline: scn
            .workload
            .max_seconds
            .map(|s| t0 + Duration::from_secs_f64(s)),
        stop: AtomicBool::new(false),
        live_at_end: Mutex::new(Vec::new()),
    };
    let budget =
        (scn.device.vram.0 as f64 * scn.workload.vram_pressure / f64::from(threads)) as u64;
    let end_reached = Barrier::new(files.len() + 1);
    let end_sampled = Barrier::new(files.len() + 1);
    let end_state: Mutex<Option<(EndState, String, String)>> = Mutex::new(None);
    let check_problems: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut map = MemoryMapSnapshot {
        vram_size: scn.device.vram.0,
        visible_size: scn.device.visible.0,
        gtt_pages: scn.device.gtt.0 / crate::scenario::PAGE_SIZE,
        regions: Vec::new(),
    };

    let tallies: Vec<thread::Result<ClientTally>> = thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .zip(0u32..)
            .map(|(file, id)| {
                let (shared, end_reached, end_sampled) = (&shared, &end_reached, &end_sampled);
                s.spawn(move || {
                    let mut c = Client {
                        id,
                        trace,
                        step: 0,
                        file,
                        scn,
                        shared,
                        rng: XorShift64::new(
                            (scn.seed ^ 0x9E37_79B9_7F4A_7C15)
                                .wrapping_add(u64::from(id).wrapping_mul(0x2545_F491_4F6C_DD1D))
                                | 1,
                        ),
                        live: Vec::new(),
                        vram_live: 0,
                        budget,
                        tally: ClientTally::default(),
                    };
                    for step in 0..scn.workload.ops_per_client {
                        if shared.stop.load(Ordering::Relaxed)
                            || shared.deadline.is_some_and(|d| Instant::now() >= d)
                        {
                            shared.stop.store(true, Ordering::Relaxed);
                            break;
                        }
                        c.step(step);
                        progress.inc(1);
                    }
                    if let Ok(mut v) = shared.live_at_end.lock() {
                        v.extend(
                            c.live
                                .iter()
                                .map(|b| (id, b.handle, scn.kinds[b.kind].name.clone())),
                        );
                    }
                    end_reached.wait();
                    end_sampled.wait();
                    while let Some(bo) = c.live.pop() {
                        c.release(bo);
                    }
                    c.tally
                })
            })
            .collect();
        end_reached.wait();
        // Clients appended their BOs in the order they arrived; sorting by client (each
        // client's own order kept) makes the snapshot's reservations, which bump the LRU,
        // happen in an order a replay can repeat.
        if let Ok(mut live) = shared.live_at_end.lock() {
            live.sort_by_key(|(owner, _, _)| *owner);
        }
        if let Some(t) = trace {
            let inspected = shared.live_at_end.lock().map_or_else(
                |_| Vec::new(),
                |live| live.iter().map(|(o, h, _)| (*o, h.get())).collect(),
            );
            t.lock().record_stats(
                StatsPoint::EndState,
                DeviceCounters::sample(&dev, files.first()),
                inspected,
            );
        }
        if check {
            let refs: Vec<&File> = files.iter().collect();
            if let Err(v) = pddgpu::invariants::check_device(&dev, &refs) {
                if let Ok(mut p) = check_problems.lock() {
                    p.push(format!("device invariants at the end state: {v}"));
                }
            }
        }
        let m = dev.mem_info();
        let info = files.first().and_then(|f| f.info(InfoQuery::Memory).ok());
        let largest = info.map_or(0, |i| i.vram.max_allocation);
        let free = m.vram_total.saturating_sub(m.vram_used);
        if let Ok(mut slot) = end_state.lock() {
            *slot = Some((
                EndState {
                    vram_used: m.vram_used,
                    vram_free: free,
                    largest_free_vram_block: largest,
                    fragmentation: fragmentation(largest, free),
                    gtt_used: m.gtt_used,
                },
                dev.vram_mm_debug(),
                dev.gtt_mm_debug(),
            ));
        }
        if let Ok(live) = shared.live_at_end.lock() {
            map.regions = regions_of(&files, &live);
        }
        end_sampled.wait();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let elapsed_secs = t0.elapsed().as_secs_f64();
    drop(files);

    let mut total = ClientTally::default();
    for t in tallies {
        let t = t.map_err(|_| CliError::Driver("a client thread panicked".to_owned()))?;
        let o = &mut total.ops;
        o.creates += t.ops.creates;
        o.frees += t.ops.frees;
        o.maps += t.ops.maps;
        o.revalidations += t.ops.revalidations;
        o.readbacks += t.ops.readbacks;
        total.latencies.extend(t.latencies);
        for (k, v) in t.failures.by_errno {
            total.failures.total += v;
            *total.failures.by_errno.entry(k).or_default() += v;
        }
        total.verified_bos += t.verified_bos;
        total.verified_bytes += t.verified_bytes;
        total.mismatches += t.mismatches;
        if total.first_mismatch.is_none() {
            total.first_mismatch = t.first_mismatch;
        }
    }
    total.ops.total = total.ops.creates
        + total.ops.frees
        + total.ops.maps
        + total.ops.revalidations
        + total.ops.readbacks;

    if let Some(t) = trace {
        t.lock().record_stats(
            StatsPoint::Final,
            DeviceCounters::sample(&dev, None),
            Vec::new(),
        );
    }
    let stats = dev.get_stats();
    dev.delayed_delete(false);
    let mut problems: Vec<String> = check_problems.into_inner().unwrap_or_default();
    if let Err(e) = dev.check() {
        problems.push(format!("device invariants: {e}"));
    } else if check {
        if let Err(v) = pddgpu::invariants::check_device(&dev, &[]) {
            problems.push(format!("device invariants after every file closed: {v}"));
        }
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
        problems.push(format!("leak report: {leaks}"));
    }
    let first_mismatch = total.first_mismatch.or_else(|| problems.first().cloned());
    let (end_state, vram_dump, gtt_dump) = end_state
        .into_inner()
        .ok()
        .flatten()
        .unwrap_or_else(|| (EndState::default(), String::new(), String::new()));
    let report = RunReport {
        schema: SCHEMA.to_owned(),
        scenario: scn.name.clone(),
        seed: scn.seed,
        threads,
        elapsed_secs,
        device: DeviceSizes {
            vram_size: scn.device.vram.0,
            visible_size: scn.device.visible.0,
            gtt_size: scn.device.gtt.0,
        },
        ops: total.ops,
        create_latency_ns: LatencySummary::from_samples(&mut total.latencies),
        evictions: stats.vram.counters.evictions + stats.gtt.counters.evictions,
        bytes_moved: stats.copy.bytes_copied,
        retries: stats.vram.counters.retries + stats.gtt.counters.retries,
        failures: total.failures,
        peak_usage: PeakUsage {
            vram: shared.peak_vram.load(Ordering::Relaxed),
            visible_vram: shared.peak_visible.load(Ordering::Relaxed),
            gtt: shared.peak_gtt.load(Ordering::Relaxed),
        },
        end_state,
        integrity: Integrity {
            ok: total.mismatches == 0 && problems.is_empty(),
            verified_bos: total.verified_bos,
            verified_bytes: total.verified_bytes,
            mismatches: total.mismatches,
            first_mismatch,
        },
    };
    Ok(RunOutcome {
        report,
        vram_dump,
        gtt_dump,
        map,
    })
}

/// Where the live BOs sit: the VRAM blocks of each VRAM resource, the GART range of
/// each bound GTT resource (system-memory BOs and unbound GTT pages are not drawn).
/// Called while every client waits at the end-state barrier, so nothing moves; each
/// reservation bumps the BO to its LRU tail, which is why `replay` repeats this call.
pub(crate) fn regions_of(files: &[File], live: &[(u32, Handle, String)]) -> Vec<Region> {
    let mut out = Vec::new();
    for (owner, handle, kind) in live {
        let Some(file) = usize::try_from(*owner).ok().and_then(|i| files.get(i)) else {
            continue;
        };
        let Ok(obj) = file.object(*handle) else {
            continue;
        };
        let reserved = obj.bo().ttm_bo().reserve();
        let Some(res) = reserved.resource() else {
            continue;
        };
        if let Some(vram) = res.private::<VramBacking>() {
            out.extend(vram.blocks().iter().map(|b| Region {
                domain: Domain::Vram,
                start: b.offset,
                size: b.size,
                owner: *owner,
                kind: kind.clone(),
            }));
        } else if let Some(addr) = res.private::<GttBacking>().and_then(GttBacking::gart_addr) {
            out.push(Region {
                domain: Domain::Gtt,
                start: addr,
                size: obj.size(),
                owner: *owner,
                kind: kind.clone(),
            });
        }
    }
    out
}
