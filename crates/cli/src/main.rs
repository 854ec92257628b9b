//! `pddgpu`: the command-line front end of the pddgpu stack (see the `pddgpu_cli` docs).

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pddgpu_cli::bench::{self, BenchPlan, BenchReport, WorkloadId};
use pddgpu_cli::map_svg::{render_svg, ColorBy};
use pddgpu_cli::progress::Progress;
use pddgpu_cli::run::RunOutcome;
use pddgpu_cli::scenario::{ByteSize, Overrides, Scenario};
use pddgpu_cli::stress::{self, StressConfig};
use pddgpu_cli::trace::{Trace, TraceHeader};
use pddgpu_cli::{CliError, Result};

/// Drive the pddgpu GPU memory-management stack on a simulated device.
#[derive(Debug, Parser)]
#[command(name = "pddgpu", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the allocator workloads of BASELINE.md and compare with the Linux C figures.
    ///
    /// Every workload (B1 alloc, B1 free, B2-B6, B4hi, B5t, M1-M4) runs --reps times on a
    /// fresh allocator; the table shows the median and minimum ns/op, the Linux median
    /// from BASELINE.md and the ratio (ours / Linux; below 1 is faster).
    Bench(BenchArgs),
    /// Run a scenario on a simulated device (the main job).
    ///
    /// Client threads, each its own GEM file, create BOs of the scenario's kinds, write
    /// a pattern into each through a CPU map, re-validate and read back, and free them
    /// when their lifetime ends, with VRAM oversubscribed so TTM evicts. Prints a
    /// summary; the exit status is 1 if integrity fails. Without SCENARIO the built-in
    /// default (scenarios/default.toml) runs.
    Run(RunArgs),
    /// Run a scenario and print the kernel-format debug dumps of the VRAM and GTT
    /// managers at its end state (while the clients' BOs are still alive).
    Dump(DumpArgs),
    /// Run a scenario and draw the VRAM and GTT maps at its end state as SVG:
    /// allocated blocks coloured by kind or owner, free space, the CPU-visible window,
    /// a legend and a scale.
    Map(MapArgs),
    /// The seed-004 concurrency test: threads x create/close through the GEM API.
    ///
    /// Each thread opens its own file on one simulated device and creates and closes
    /// small BOs (4 KiB-256 KiB, VRAM, GTT or either). At the end the device's
    /// invariants are checked, usage must be zero and the leak report empty; the exit
    /// status is 1 if any check fails.
    Stress(StressArgs),
    /// Replay a trace recorded by `run --trace` and report where the outcome differs.
    ///
    /// The device is rebuilt from the trace header (same VRAM, visible and GTT sizes),
    /// one GEM file is opened per recorded client, and every operation (create,
    /// map_write, readback, pin, unpin, close) is issued through the GEM API in the
    /// trace's global order (seq), on one thread. After each, its result is compared
    /// with the recorded one: success or errno, created handle, domain and GPU offset,
    /// readback verdict; the end-state and final device statistics are compared too.
    ///
    /// A single-client run replays identically. With several clients, `run --trace`
    /// executes each operation under the trace lock, so the recorded order is exactly
    /// the order in which operations took effect (tracing serialises the clients); the
    /// replay issues them in that order, which reproduces the outcome, and reports every
    /// operation whose result still differs (work the device did asynchronously to the
    /// operations, such as a delayed delete of a BO released while busy, landing at
    /// another point).
    ///
    /// Exit status: 0 if identical, 1 on any divergence or error (a malformed trace is
    /// reported with its line number).
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The trace (JSON lines written by `pddgpu run --trace`).
    trace: PathBuf,

    /// List at most N divergences (all are counted).
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_divergences: usize,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,

    /// Write the full report as JSON (schema pddgpu-run-report/1).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Print the kernel-format debug dumps of the VRAM and GTT managers at the end state.
    #[arg(long)]
    dump: bool,

    /// Draw the VRAM and GTT maps at the end state as SVG (blocks coloured by kind).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,

    /// Record every operation as JSON lines for `pddgpu replay`: a header (format
    /// version, seed, device sizes, clients), then per operation its global seq,
    /// client, request and observed result (errno, handle, domain, GPU offset), and the
    /// end-state and final device statistics. While tracing, each operation runs under
    /// the trace lock, so the recorded order is the order operations took effect.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MapArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,

    /// The SVG file to write.
    #[arg(long, short, value_name = "FILE", default_value = "pddgpu-map.svg")]
    output: PathBuf,

    /// Colour blocks by BO kind or by owning client.
    #[arg(long, value_enum, default_value_t = ColorArg::Kind)]
    color_by: ColorArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ColorArg {
    /// One colour per BO kind.
    Kind,
    /// One colour per client.
    Owner,
}

fn write_svg(out: &RunOutcome, path: &std::path::Path, by: ColorBy) -> Result<()> {
    let svg = render_svg(&out.map, by)?;
    fs::write(path, svg).map_err(|e| CliError::io(path, e))
}

#[derive(Debug, Args)]
struct DumpArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
}

/// A scenario and its command-line overrides.
#[derive(Debug, Args)]
struct ScenarioArgs {
    /// Scenario TOML file (default: the built-in scenario).
    scenario: Option<PathBuf>,

    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,

    /// Override the number of client threads.
    #[arg(long, value_name = "N")]
    threads: Option<u32>,

    /// Override the VRAM size (e.g. `256MiB`).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    vram: Option<ByteSize>,

    /// Override the GTT size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    gtt: Option<ByteSize>,

    /// Override the CPU-visible VRAM window.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    visible: Option<ByteSize>,

    /// Run the whole-device invariant checker at the end state (BOs alive) and after
    /// every file is closed: both allocators' checks, TTM usage against live resources
    /// and allocator books, visible-VRAM usage, GART binding of every bound GTT resource,
    /// every handle naming a live object. A violation fails the integrity verdict.
    #[arg(long)]
    check: bool,
}

impl ScenarioArgs {
    fn load(&self) -> Result<Scenario> {
        let base = match &self.scenario {
            Some(path) => Scenario::load(path)?,
            None => Scenario::builtin_default()?,
        };
        Ok(base.with_overrides(Overrides {
            seed: self.seed,
            threads: self.threads,
            vram: self.vram,
            gtt: self.gtt,
            visible: self.visible,
        })?)
    }

    /// Runs the scenario with a progress bar, recording a trace if `trace` is given.
    fn run(&self, trace: Option<&std::path::Path>) -> Result<RunOutcome> {
        let scn = self.load()?;
        let header = TraceHeader::for_scenario(&scn);
        let trace = trace.map(|p| Trace::create(p, &header)).transpose()?;
        let steps = u64::from(scn.workload.threads).saturating_mul(scn.workload.ops_per_client);
        let progress = Progress::new(steps, &scn.name);
        let out = pddgpu_cli::run::run(&scn, &progress, trace.as_ref(), self.check)?;
        progress.finish();
        if let Some(t) = &trace {
            t.finish()?;
        }
        Ok(out)
    }
}

#[derive(Debug, Args)]
struct StressArgs {
    /// Client threads, each with its own file.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: u32,

    /// Create + close rounds per thread.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,

    /// VRAM size (e.g. `4GiB`).
    #[arg(long, value_name = "SIZE", default_value = "4 GiB", value_parser = parse_size)]
    vram: ByteSize,

    /// CPU-visible VRAM window.
    #[arg(long, value_name = "SIZE", default_value = "256 MiB", value_parser = parse_size)]
    visible: ByteSize,

    /// GTT size.
    #[arg(long, value_name = "SIZE", default_value = "8 GiB", value_parser = parse_size)]
    gtt: ByteSize,

    /// Seed of the size and domain draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_size(s: &str) -> std::result::Result<ByteSize, String> {
    ByteSize::parse(s)
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Run only these workloads (comma separated, e.g. `B2,M1`; `B1` means both B1
    /// phases). Also accepts the scaling variants B4x1G, B4x64G and M3x16.
    #[arg(long, value_name = "ID[,ID]")]
    only: Option<String>,

    /// Repetitions per workload (the median is reported).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    reps: u32,

    /// Also write the results as JSON: {"workloads": [{"id", "ns_per_op_median",
    /// "ns_per_op_min", "ops", "failures"}, ...]}.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Add columns for the offset-allocator and range-alloc crates on the workloads they
    /// can express (B1 and B2, B3, M1; see the pddgpu-cli `compare` module docs).
    #[arg(long)]
    compare: bool,

    /// List the workload ids and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench_cmd(&args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run_cmd(&args),
        Command::Dump(args) => dump_cmd(&args),
        Command::Map(args) => map_cmd(&args),
        Command::Stress(args) => stress_cmd(&args),
        Command::Replay(args) => replay_cmd(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pddgpu: {e} (errno {})", e.errno());
            ExitCode::FAILURE
        }
    }
}

fn bench_cmd(args: &BenchArgs) -> Result<()> {
    if args.list {
        for w in WorkloadId::all() {
            let linux = w
                .linux_ns_per_op()
                .map_or_else(|| "-".to_owned(), |l| format!("{l:.1}"));
            println!("{:<8} {:>8}  {}", w.id(), linux, w.describe());
        }
        return Ok(());
    }
    let workloads = match &args.only {
        Some(list) => bench::parse_selection(list)?,
        None => bench::BASELINE.to_vec(),
    };
    let reps = usize::try_from(args.reps)
        .map_err(|_| CliError::InvalidArgument(format!("--reps {}", args.reps)))?;
    let plan = BenchPlan {
        workloads,
        reps,
        compare: args.compare,
    };
    let progress = Progress::new(plan.total_runs(), "bench");
    let measurements = plan.run(|id| {
        progress.set_message(id);
        progress.inc(1);
    });
    progress.finish();
    print!("{}", bench::render_table(&measurements, reps, args.compare));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&BenchReport::new(&measurements))?;
        fs::write(path, json + "\n").map_err(|e| CliError::io(path, e))?;
    }
    Ok(())
}

fn replay_cmd(args: &ReplayArgs) -> Result<ExitCode> {
    let text = fs::read_to_string(&args.trace).map_err(|e| CliError::io(&args.trace, e))?;
    let parsed = pddgpu_cli::trace::parse(&text)?;
    let report = pddgpu_cli::replay::replay(&parsed)?;
    print!("{}", report.render_text(args.max_divergences));
    Ok(if report.identical() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn stress_cmd(args: &StressArgs) -> Result<ExitCode> {
    let out = stress::run(StressConfig {
        threads: args.threads,
        iterations: args.iterations,
        vram: args.vram.0,
        visible: args.visible.0,
        gtt: args.gtt.0,
        seed: args.seed,
    })?;
    print!("{}", out.render_text());
    Ok(if out.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_cmd(args: &RunArgs) -> Result<ExitCode> {
    let out = args.scenario.run(args.trace.as_deref())?;
    print!("{}", out.report.render_text());
    if args.dump {
        println!("\nVRAM manager:\n{}", out.vram_dump);
        println!("GTT manager:\n{}", out.gtt_dump);
    }
    if let Some(path) = &args.svg {
        write_svg(&out, path, ColorBy::Kind)?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&out.report)?;
        fs::write(path, json + "\n").map_err(|e| CliError::io(path, e))?;
    }
    Ok(if out.report.integrity.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn dump_cmd(args: &DumpArgs) -> Result<ExitCode> {
    let out = args.scenario.run(None)?;
    println!("VRAM manager:\n{}", out.vram_dump);
    println!("GTT manager:\n{}", out.gtt_dump);
    Ok(if out.report.integrity.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn map_cmd(args: &MapArgs) -> Result<ExitCode> {
    let out = args.scenario.run(None)?;
    let by = match args.color_by {
        ColorArg::Kind => ColorBy::Kind,
        ColorArg::Owner => ColorBy::Owner,
    };
    write_svg(&out, &args.output, by)?;
    println!(
        "{}: VRAM and GTT of scenario {} at its end state, {} allocated regions",
        args.output.display(),
        out.report.scenario,
        out.map.regions.len()
    );
    Ok(if out.report.integrity.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
