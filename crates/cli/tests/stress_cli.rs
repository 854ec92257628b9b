//! `pddgpu stress` driven through the binary.

mod common;

use common::pddgpu;

#[test]
fn stress_help_names_the_options() {
    let out = pddgpu()
        .args(["stress", "--help"])
        .assert()
        .success()
        .get_output()
        .clone();
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--threads",
        "--iterations",
        "--vram",
        "--visible",
        "--gtt",
        "--seed",
    ] {
        assert!(help.contains(opt), "stress --help lacks {opt}:\n{help}");
    }
    assert!(
        help.contains("[default: 100]") && help.contains("[default: 1000]"),
        "{help}"
    );
}

#[test]
fn small_stress_passes() {
    let out = pddgpu()
        .args(["stress", "--threads", "16", "--iterations", "40"])
        .args(["--vram", "64MiB", "--visible", "16 MiB", "--gtt", "64MiB"])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "stress   16 threads x 40 create/close, VRAM 64 MiB (visible 16 MiB), GTT 64 MiB, seed 1"
    );
    assert_eq!(lines[1], "creates  640 ok, 0 failed; 0 close failures");
    assert_eq!(lines.last(), Some(&"verdict  PASS"));
}

#[test]
fn bad_sizes_are_usage_errors() {
    pddgpu()
        .args(["stress", "--vram", "lots"])
        .assert()
        .failure()
        .code(2);
    pddgpu()
        .args(["stress", "--threads", "0"])
        .assert()
        .failure()
        .code(2);
    // A visible window larger than VRAM is refused by the driver: EINVAL, status 1.
    let out = pddgpu()
        .args(["stress", "--threads", "1", "--iterations", "1"])
        .args(["--vram", "64MiB", "--visible", "128MiB", "--gtt", "64MiB"])
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("(errno 22)"), "{err}");
}
