use super::*;
use crate::trace::parse;

const HEADER: &str = r#"{"format":"pddgpu-trace","version":2,"scenario":"t","seed":1,"threads":2,"device":{"vram_size":8388608,"visible_size":4194304,"gtt_size":16777216}}"#;

/// A hand-written trace: exact handles, domains and offsets on an 8 MiB device.
fn trace(lines: &[&str]) -> ParsedTrace {
    parse(&format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap()
}

#[test]
fn hand_written_trace_replays_identically() {
    let t = trace(&[
        r#"{"seq":0,"client":0,"step":0,"op":"create","size":1048576,"alignment":4096,"domains":4,"flags":1,"result":{"handle":1,"domain":"vram","gpu_offset":0}}"#,
        r#"{"seq":1,"client":1,"step":0,"op":"create","size":65536,"alignment":4096,"domains":2,"flags":0,"result":{"handle":1,"domain":"gtt"}}"#,
        r#"{"seq":2,"client":0,"step":1,"op":"map_write","handle":1,"pattern":5,"result":{"domain":"vram","gpu_offset":0}}"#,
        r#"{"seq":3,"client":0,"step":1,"op":"readback","handle":1,"pattern":5,"result":{"domain":"vram","gpu_offset":0,"verified":true}}"#,
        r#"{"seq":4,"client":0,"step":1,"op":"readback","handle":1,"pattern":6,"result":{"domain":"vram","gpu_offset":0,"verified":false}}"#,
        r#"{"seq":5,"client":0,"step":2,"op":"unpin","handle":1,"result":{"errno":"EINVAL"}}"#,
        r#"{"seq":6,"client":1,"step":2,"op":"close","handle":1,"result":{}}"#,
        r#"{"seq":7,"client":1,"step":2,"op":"close","handle":1,"result":{"errno":"ENOENT"}}"#,
        r#"{"seq":8,"client":0,"step":3,"op":"close","handle":1,"result":{}}"#,
    ]);
    assert_eq!(t.lines.len(), 9);
    let r = replay(&t).unwrap();
    assert_eq!(r.operations, 9);
    assert_eq!(r.divergences, Vec::new());
    assert!(r.identical());
    assert!(r
        .render_text(5)
        .ends_with("verdict: identical (every result, placement and statistic)\n"));
}

#[test]
fn a_missing_handle_is_a_divergence_and_skipped() {
    let t = trace(&[
        r#"{"seq":0,"client":0,"step":0,"op":"create","size":16777216,"alignment":4096,"domains":4,"flags":0,"result":{"handle":1,"domain":"vram","gpu_offset":0}}"#,
        r#"{"seq":1,"client":0,"step":0,"op":"close","handle":1,"result":{}}"#,
    ]);
    let r = replay(&t).unwrap();
    assert!(!r.identical());
    assert_eq!(r.divergences.len(), 2, "{:?}", r.divergences);
    assert_eq!(r.divergences[0].line, 2);
    assert_eq!(r.divergences[0].what, "create (client 0)");
    assert!(
        r.divergences[0].replayed.starts_with(r#"{"errno":"#),
        "{:?}",
        r.divergences[0]
    );
    assert_eq!(r.divergences[1].line, 3);
    assert_eq!(
        r.divergences[1].replayed,
        "not issued: the handle does not exist in the replay"
    );
    let text = r.render_text(1);
    assert!(
        text.contains("operations: 2 replayed, 2 diverged"),
        "{text}"
    );
    assert!(text.contains("  ... and 1 more"), "{text}");
    assert!(text.ends_with("verdict: DIVERGED\n"), "{text}");
}

#[test]
fn an_invalid_recorded_request_is_a_trace_error() {
    let t = trace(&[
        r#"{"seq":0,"client":0,"step":0,"op":"create","size":0,"alignment":4096,"domains":4,"flags":0,"result":{"errno":"EINVAL"}}"#,
    ]);
    let e = replay(&t).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("trace: line 2: invalid create request"),
        "{e}"
    );
    assert_eq!(e.errno(), 22);
}
