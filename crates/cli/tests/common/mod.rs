//! What the CLI tests share: the binary, its output, and the scenario they run.

// Each test binary includes this module and uses its own part of it.
#![allow(dead_code, unreachable_pub)]

use assert_cmd::Command;

/// The `pddgpu` binary of this build.
pub fn pddgpu() -> Command {
    Command::cargo_bin("pddgpu").expect("the pddgpu binary is built")
}

/// Runs `cmd`, which must succeed, and returns its standard output.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("UTF-8 output")
}

/// Runs `cmd`, which must fail with exit status `code`, and returns its standard error.
pub fn stderr_of(cmd: &mut Command, code: i32) -> String {
    let out = cmd
        .assert()
        .failure()
        .code(code)
        .get_output()
        .stderr
        .clone();
    String::from_utf8(out).expect("UTF-8 output")
}

/// `pddgpu <sub> --help`, checked to name every option of `opts`.
pub fn help_naming(sub: &str, opts: &[&str]) -> String {
    let help = stdout_of(pddgpu().args([sub, "--help"]));
    for opt in opts {
        assert!(help.contains(opt), "{sub} --help lacks {opt}:\n{help}");
    }
    help
}

/// A scenario of three BO kinds (textures in VRAM or GTT, CPU-visible constants,
/// GTT staging buffers) with VRAM oversubscribed 1.5 times, so that TTM evicts, on a
/// device of `vram` with `visible` CPU-visible and 64 MiB of GTT.
pub fn scenario(
    name: &str,
    seed: u64,
    vram: &str,
    visible: &str,
    threads: u32,
    ops: u32,
) -> String {
    format!(
        r#"
name = "{name}"
seed = {seed}

[device]
vram = "{vram}"
visible = "{visible}"
gtt = "64 MiB"

[workload]
threads = {threads}
ops_per_client = {ops}
max_seconds = 20
vram_pressure = 1.5

[workload.mix]
create = 60
revalidate = 15
readback = 20
idle = 5

[[kind]]
name = "texture"
weight = 3
domains = ["vram", "gtt"]
size = {{ dist = "pow2", min = "64 KiB", max = "1 MiB" }}
lifetime = {{ min = 10, max = 60 }}

[[kind]]
name = "constants"
weight = 2
domains = ["vram"]
flags = ["cpu_access_required"]
size = {{ dist = "uniform", min = "4 KiB", max = "64 KiB" }}
lifetime = {{ min = 5, max = 30 }}

[[kind]]
name = "staging"
weight = 2
domains = ["gtt"]
size = {{ dist = "fixed", size = "128 KiB" }}
lifetime = {{ min = 1, max = 10 }}
"#
    )
}
