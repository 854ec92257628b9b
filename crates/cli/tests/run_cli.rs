//! `pddgpu run` driven through the binary on tiny scenarios.

mod common;

use common::{pddgpu, scenario};

/// The scenario of these tests: 2 clients of 150 operations each.
fn tiny() -> String {
    scenario("tiny", 11, "32 MiB", "8 MiB", 2, 150)
}

#[test]
fn run_help_names_the_options() {
    let out = pddgpu()
        .args(["run", "--help"])
        .assert()
        .success()
        .get_output()
        .clone();
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "[SCENARIO]",
        "--json",
        "--dump",
        "--seed",
        "--threads",
        "--vram",
        "--gtt",
        "--visible",
        "--check",
    ] {
        assert!(help.contains(opt), "run --help lacks {opt}:\n{help}");
    }
}

#[test]
fn tiny_scenario_runs_with_integrity_and_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("tiny.toml");
    std::fs::write(&scn, tiny()).unwrap();
    let json = dir.path().join("report.json");
    let out = pddgpu()
        .arg("run")
        .arg(&scn)
        .arg("--json")
        .arg(&json)
        .arg("--dump")
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("scenario tiny (seed 11), 2 client thread(s), "),
        "{text}"
    );
    assert!(
        text.contains("device   VRAM 32 MiB (visible 8 MiB), GTT 64 MiB"),
        "{text}"
    );
    assert!(text.contains("\nintegrity OK: "), "{text}");
    assert!(
        text.contains("\nVRAM manager:\n") && text.contains("\nGTT manager:\n"),
        "{text}"
    );

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["schema"], "pddgpu-run-report/1");
    assert_eq!(v["scenario"], "tiny");
    assert_eq!(v["seed"], 11);
    assert_eq!(v["threads"], 2);
    assert_eq!(v["device"]["vram_size"], 32u64 << 20);
    assert_eq!(v["device"]["visible_size"], 8u64 << 20);
    assert_eq!(v["device"]["gtt_size"], 64u64 << 20);
    let creates = v["ops"]["creates"].as_u64().unwrap();
    assert!(creates > 0);
    // Every BO created is freed by the end of the run.
    assert_eq!(v["ops"]["frees"].as_u64(), Some(creates));
    let o = &v["ops"];
    let sum: u64 = ["creates", "frees", "maps", "revalidations", "readbacks"]
        .iter()
        .map(|k| o[*k].as_u64().unwrap())
        .sum();
    assert_eq!(o["total"].as_u64(), Some(sum));
    assert_eq!(v["create_latency_ns"]["count"].as_u64(), Some(creates));
    assert!(v["peak_usage"]["vram"].as_u64().unwrap() <= 32 << 20);
    let end = &v["end_state"];
    assert!(end["largest_free_vram_block"].as_u64() <= end["vram_free"].as_u64());
    let frag = end["fragmentation"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&frag));
    assert_eq!(v["integrity"]["ok"], true);
    assert_eq!(v["integrity"]["mismatches"], 0);
    assert!(v["integrity"]["verified_bos"].as_u64().unwrap() > 0);
}

#[test]
fn check_runs_the_device_invariant_checker() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("tiny.toml");
    std::fs::write(&scn, tiny()).unwrap();
    let json = dir.path().join("report.json");
    let out = pddgpu()
        .arg("run")
        .arg(&scn)
        .args(["--check", "--threads", "3", "--json"])
        .arg(&json)
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("integrity OK"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["threads"], 3);
}

#[test]
fn bad_scenarios_and_overrides_are_einval() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("bad.toml");
    std::fs::write(&scn, tiny().replace("threads = 2", "threads = 0")).unwrap();
    let out = pddgpu()
        .arg("run")
        .arg(&scn)
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("`workload.threads`") && err.contains("(errno 22)"),
        "{err}"
    );

    let out = pddgpu()
        .args(["run", "--vram", "64MiB", "--visible", "128MiB"])
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`device.visible`"), "{err}");

    let out = pddgpu()
        .args(["run", "/nonexistent/s.toml"])
        .assert()
        .failure()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("(errno 2)"), "{err}");
}

#[test]
fn dump_prints_both_managers_at_the_end_state() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("tiny.toml");
    std::fs::write(&scn, tiny()).unwrap();
    let out = pddgpu()
        .arg("dump")
        .arg(&scn)
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("VRAM manager:\n"), "{text}");
    let gtt = text.find("\nGTT manager:\n").expect("GTT section");
    // The VRAM dump carries the amdgpu VRAM manager lines.
    let vram = &text[..gtt];
    assert!(
        vram.contains("vis usage:") && vram.contains("default_page_size:"),
        "{vram}"
    );
    assert!(!text.contains("integrity"), "dump prints no summary");
}

fn svg_blocks(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let doc = roxmltree::Document::parse(text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    for id in ["vram", "gtt", "legend"] {
        assert!(
            doc.descendants().any(|n| n.attribute("id") == Some(id)),
            "no #{id}"
        );
    }
    let blocks = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("block"))
        .map(|n| {
            (
                n.attribute("data-domain").expect("data-domain").to_owned(),
                n.attribute("data-kind").expect("data-kind").to_owned(),
            )
        })
        .collect();
    let legend = doc
        .descendants()
        .filter_map(|n| n.attribute("data-label"))
        .map(str::to_owned)
        .collect();
    (blocks, legend)
}

#[test]
fn run_svg_draws_the_live_bos_of_the_end_state() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("tiny.toml");
    std::fs::write(&scn, tiny()).unwrap();
    let svg = dir.path().join("map.svg");
    pddgpu()
        .arg("run")
        .arg(&scn)
        .arg("--svg")
        .arg(&svg)
        .assert()
        .success();
    let (blocks, legend) = svg_blocks(&std::fs::read_to_string(&svg).unwrap());
    assert!(blocks.iter().any(|(d, _)| d == "vram"), "{blocks:?}");
    for (domain, kind) in &blocks {
        assert!(["vram", "gtt"].contains(&domain.as_str()));
        assert!(
            ["texture", "constants", "staging"].contains(&kind.as_str()),
            "{kind}"
        );
    }
    assert_eq!(
        legend.last().map(String::as_str),
        Some("CPU-visible window")
    );
    assert!(legend.contains(&"free".to_owned()));
}

#[test]
fn map_colours_by_owner() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("tiny.toml");
    std::fs::write(&scn, tiny()).unwrap();
    let svg = dir.path().join("owners.svg");
    let out = pddgpu()
        .arg("map")
        .arg(&scn)
        .arg("-o")
        .arg(&svg)
        .args(["--color-by", "owner"])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("VRAM and GTT of scenario tiny at its end state"),
        "{text}"
    );
    let (blocks, legend) = svg_blocks(&std::fs::read_to_string(&svg).unwrap());
    assert!(!blocks.is_empty());
    let owners: Vec<&String> = legend.iter().filter(|l| l.starts_with("client ")).collect();
    assert!(!owners.is_empty() && owners.len() <= 2, "{legend:?}");
}

#[test]
fn trace_records_every_operation_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let scn = dir.path().join("tiny.toml");
    std::fs::write(&scn, tiny()).unwrap();
    let trace = dir.path().join("trace.jsonl");
    let json = dir.path().join("report.json");
    pddgpu()
        .arg("run")
        .arg(&scn)
        .arg("--trace")
        .arg(&trace)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let text = std::fs::read_to_string(&trace).unwrap();
    let all: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let header = &all[0];
    assert_eq!(header["format"], "pddgpu-trace");
    assert_eq!(header["version"], 2);
    assert_eq!(header["seed"], 11);
    assert_eq!(header["threads"], 2);
    assert_eq!(header["device"]["vram_size"], 32 << 20);
    assert_eq!(header["device"]["visible_size"], 8 << 20);
    assert_eq!(header["device"]["gtt_size"], 64 << 20);
    let last = all.last().unwrap();
    assert_eq!(last["stats"], "final");
    assert_eq!(last["vram_used"], 0);
    assert_eq!(last["evictions"], report["evictions"]);
    assert_eq!(last["bytes_moved"], report["bytes_moved"]);
    let end: Vec<&serde_json::Value> = all.iter().filter(|l| l["stats"] == "end_state").collect();
    assert_eq!(end.len(), 1);
    assert_eq!(end[0]["vram_used"], report["end_state"]["vram_used"]);
    assert_eq!(
        end[0]["largest_free_vram_block"],
        report["end_state"]["largest_free_vram_block"]
    );
    // Operations and the end-state sample share one gap-free sequence.
    for (i, l) in all[1..all.len() - 1].iter().enumerate() {
        assert_eq!(l["seq"].as_u64(), Some(i as u64), "lines are in seq order");
    }
    let lines: Vec<&serde_json::Value> = all.iter().filter(|l| l.get("op").is_some()).collect();
    for l in &lines {
        assert!(l["client"].as_u64().unwrap() < 2);
        assert!(["texture", "constants", "staging"].contains(&l["kind"].as_str().unwrap()));
    }
    let count = |op: &str| {
        lines
            .iter()
            .filter(|l| l["op"] == op && l["result"].get("errno").is_none())
            .count() as u64
    };
    assert_eq!(count("create"), report["ops"]["creates"].as_u64().unwrap());
    assert_eq!(count("close"), report["ops"]["frees"].as_u64().unwrap());
    assert_eq!(
        count("unpin"),
        report["ops"]["revalidations"].as_u64().unwrap()
    );
    // Readbacks of the mix plus the verification before each close of a mapped BO.
    assert!(count("readback") >= report["ops"]["readbacks"].as_u64().unwrap());
    assert_eq!(
        count("map_write") + count("readback"),
        report["ops"]["maps"].as_u64().unwrap()
    );
    for l in lines.iter().filter(|l| l["op"] == "create") {
        assert!(l["size"].as_u64().unwrap() > 0 && l["alignment"].as_u64().is_some());
        assert!(l["domains"].as_u64().unwrap() > 0);
        if l["result"].get("errno").is_none() {
            assert!(["vram", "gtt", "cpu"].contains(&l["result"]["domain"].as_str().unwrap()));
        }
    }
    // Every created handle of a client is closed exactly once.
    for l in lines
        .iter()
        .filter(|l| l["op"] == "create" && l["result"].get("errno").is_none())
    {
        let closes = lines
            .iter()
            .filter(|c| {
                c["op"] == "close"
                    && c["client"] == l["client"]
                    && c["handle"] == l["result"]["handle"]
            })
            .count();
        assert_eq!(closes, 1, "{l}");
    }
}
