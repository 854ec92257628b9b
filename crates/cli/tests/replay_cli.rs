//! `pddgpu replay` driven through the binary: record with `run --trace`, replay, and
//! the divergence and malformed-trace reports.

use std::path::{Path, PathBuf};

mod common;

use common::{pddgpu, scenario};

/// A small scenario (8 MiB of VRAM, 4 MiB visible) oversubscribed enough that TTM
/// evicts.
fn small() -> String {
    scenario("small", 5, "8 MiB", "4 MiB", 1, 120)
}

/// Records a run of `small()` with `threads` clients into `dir/trace.jsonl`.
fn record(dir: &Path, threads: u32) -> PathBuf {
    let scn = dir.join("small.toml");
    std::fs::write(&scn, small()).expect("test I/O");
    let trace = dir.join("trace.jsonl");
    pddgpu()
        .arg("run")
        .arg(&scn)
        .args(["--threads", &threads.to_string()])
        .arg("--trace")
        .arg(&trace)
        .assert()
        .success();
    trace
}

fn replay(trace: &Path) -> (Option<i32>, String, String) {
    let out = pddgpu()
        .arg("replay")
        .arg(trace)
        .output()
        .expect("test I/O");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("test I/O"),
        String::from_utf8(out.stderr).expect("test I/O"),
    )
}

fn op_lines(text: &str) -> usize {
    text.lines().filter(|l| l.contains("\"op\":")).count()
}

#[test]
fn single_client_replay_is_identical() {
    let dir = tempfile::tempdir().expect("test I/O");
    let trace = record(dir.path(), 1);
    let text = std::fs::read_to_string(&trace).expect("test I/O");
    let final_line: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("test I/O")).expect("test I/O");
    assert!(
        final_line["evictions"].as_u64().expect("test I/O") > 0,
        "the scenario evicts: {final_line}"
    );
    let (code, out, err) = replay(&trace);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!(
            "operations: {} replayed, 0 diverged",
            op_lines(&text)
        )),
        "{out}"
    );
    assert!(out.contains("end-state statistics: identical"), "{out}");
    assert!(out.contains("final statistics: identical"), "{out}");
    assert!(out.contains("verdict: identical"), "{out}");
    assert!(!out.contains("differs"), "{out}");
    // The printed counters are the recorded ones.
    let evictions = final_line["evictions"].as_u64().expect("test I/O");
    let row = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("evictions"))
        .expect("test I/O");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        ["evictions", &evictions.to_string(), &evictions.to_string()]
    );
}

#[test]
fn several_clients_replay_in_the_recorded_order() {
    let dir = tempfile::tempdir().expect("test I/O");
    let trace = record(dir.path(), 3);
    let text = std::fs::read_to_string(&trace).expect("test I/O");
    let (code, out, err) = replay(&trace);
    assert!(err.is_empty(), "{err}");
    assert!(
        out.contains(&format!("operations: {} replayed,", op_lines(&text))),
        "{out}"
    );
    // The recorder serialised the clients' operations, so their order is the order
    // they took effect, and replaying it on one thread reproduces every outcome.
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(" 0 diverged"), "{out}");
    assert!(out.contains("final statistics: identical"), "{out}");
    assert!(out.contains("verdict: identical"), "{out}");
    let clients: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split("\"client\":").nth(1))
        .filter_map(|r| r.split(',').next())
        .collect();
    assert_eq!(clients.len(), 3, "every client recorded operations");
}

/// Rewrites line `n` (1-based) of the trace with `f`.
fn tamper(trace: &Path, n: usize, f: impl FnOnce(&mut serde_json::Value)) {
    let text = std::fs::read_to_string(trace).expect("test I/O");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut v: serde_json::Value = serde_json::from_str(&lines[n - 1]).expect("test I/O");
    f(&mut v);
    lines[n - 1] = v.to_string();
    std::fs::write(trace, lines.join("\n") + "\n").expect("test I/O");
}

fn first_line(trace: &Path, pred: impl Fn(&serde_json::Value) -> bool) -> usize {
    let text = std::fs::read_to_string(trace).expect("test I/O");
    text.lines()
        .position(|l| pred(&serde_json::from_str(l).expect("test I/O")))
        .expect("test I/O")
        + 1
}

#[test]
fn a_tampered_placement_is_named_as_a_divergence() {
    let dir = tempfile::tempdir().expect("test I/O");
    let trace = record(dir.path(), 1);
    let n = first_line(&trace, |v| {
        v["op"] == "create" && v["result"]["domain"] == "vram" && v["seq"].as_u64() > Some(5)
    });
    let mut seq = 0;
    tamper(&trace, n, |v| {
        seq = v["seq"].as_u64().expect("test I/O");
        let off = v["result"]["gpu_offset"].as_u64().expect("test I/O");
        v["result"]["gpu_offset"] = (off ^ 0x1000).into();
    });
    let (code, out, _) = replay(&trace);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("operations: "), "{out}");
    assert!(out.contains(", 1 diverged"), "{out}");
    assert!(
        out.contains(&format!(
            "divergence at line {n}, seq {seq}: create (client 0)"
        )),
        "{out}"
    );
    assert!(out.contains("final statistics: identical"), "{out}");
    assert!(out.contains("verdict: DIVERGED"), "{out}");
}

#[test]
fn a_tampered_errno_and_final_statistics_are_named() {
    let dir = tempfile::tempdir().expect("test I/O");
    let trace = record(dir.path(), 1);
    let n = first_line(&trace, |v| v["op"] == "close");
    tamper(&trace, n, |v| {
        v["result"] = serde_json::json!({"errno": "ENOENT"})
    });
    let last = std::fs::read_to_string(&trace)
        .expect("test I/O")
        .lines()
        .count();
    tamper(&trace, last, |v| {
        v["bytes_moved"] = (v["bytes_moved"].as_u64().expect("test I/O") + 1).into();
    });
    let (code, out, _) = replay(&trace);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(", 2 diverged"), "{out}");
    assert!(
        out.contains(&format!("divergence at line {n}, seq")) && out.contains("close (client 0)"),
        "{out}"
    );
    assert!(
        out.contains(r#"recorded {"errno":"ENOENT"}, replayed {}"#),
        "{out}"
    );
    assert!(out.contains("final statistics: DIFFERENT"), "{out}");
    assert!(
        out.contains(&format!("divergence at line {last}: final statistics")),
        "{out}"
    );
    assert!(out.contains("<- differs"), "{out}");
}

/// Replays `text` and returns the error message (the exit status must be 1).
fn replay_error(text: &str) -> String {
    let dir = tempfile::tempdir().expect("test I/O");
    let trace = dir.path().join("bad.jsonl");
    std::fs::write(&trace, text).expect("test I/O");
    let (code, out, err) = replay(&trace);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    err
}

const HEADER: &str = r#"{"format":"pddgpu-trace","version":2,"scenario":"t","seed":1,"threads":1,"device":{"vram_size":8388608,"visible_size":4194304,"gtt_size":8388608}}"#;
const CREATE: &str = r#"{"seq":0,"client":0,"step":0,"kind":"k","op":"create","size":65536,"alignment":4096,"domains":4,"flags":0,"result":{"handle":1,"domain":"vram","gpu_offset":8323072}}"#;

#[test]
fn malformed_traces_are_einval_with_the_line_number() {
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "trace: line 1: empty trace"),
        (
            r#"{"seq":0,"client":0,"step":0,"op":"create","handle":1,"kind":"k","size":4096,"result":"ok"}"#.to_owned(),
            "trace: line 1: no header: a version 1 trace",
        ),
        (
            HEADER.replace("\"version\":2", "\"version\":3"),
            "trace: line 1: format \"pddgpu-trace\" version 3",
        ),
        (format!("{HEADER}\n{CREATE}\nnot json"), "trace: line 3: not JSON"),
        (
            format!("{HEADER}\n{}", CREATE.replace("\"seq\":0", "\"seq\":1")),
            "trace: line 2: seq 1, expected 0",
        ),
        (
            format!("{HEADER}\n{}", CREATE.replace("\"client\":0", "\"client\":1")),
            "trace: line 2: client 1 of 1 clients",
        ),
        (
            format!("{HEADER}\n{}", CREATE.replace("\"create\"", "\"explode\"")),
            "trace: line 2: bad operation: unknown variant `explode`",
        ),
        (
            format!("{HEADER}\n{}", CREATE.replace("\"size\":65536,", "")),
            "trace: line 2: bad operation: missing field `size`",
        ),
        (
            format!("{HEADER}\n{}", CREATE.replace("\"domains\":4", "\"domains\":64")),
            "trace: line 2: invalid create request",
        ),
        (format!("{HEADER}\n{CREATE}\n[1,2]"), "trace: line 3: neither an operation"),
    ];
    for (text, want) in cases {
        let err = replay_error(&text);
        assert!(
            err.starts_with(&format!("pddgpu: {want}")),
            "{want:?}: {err}"
        );
        assert!(err.trim_end().ends_with("(errno 22)"), "{err}");
    }
}

#[test]
fn a_missing_trace_is_enoent() {
    let err = replay_error_path(Path::new("/nonexistent/trace.jsonl"));
    assert!(
        err.contains("/nonexistent/trace.jsonl") && err.contains("(errno 2)"),
        "{err}"
    );
}

fn replay_error_path(p: &Path) -> String {
    let (code, _, err) = replay(p);
    assert_eq!(code, Some(1));
    err
}

#[test]
fn replay_help_documents_the_order_and_exit_status() {
    let out = pddgpu().args(["replay", "--help"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).expect("test I/O");
    for want in [
        "TRACE",
        "global order",
        "took effect",
        "Exit status",
        "--max-divergences",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}
