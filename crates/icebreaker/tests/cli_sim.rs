//! `icebreaker sim ...` through the built binary.

mod common;

use common::run;

fn nat_type(spec: &str) -> serde_json::Value {
    let out = run(&["sim", "nat-type", "--nat", spec, "--json"]);
    out.expect_code(0);
    out.json()
}

#[test]
fn nat_type_presets() {
    let v = nat_type("full-cone");
    assert_eq!(v["mapping"], "endpoint-independent");
    assert_eq!(v["filtering"], "endpoint-independent");
    assert_eq!(v["hairpinning"], true);
    let v = nat_type("symmetric");
    assert_eq!(v["mapping"], "address-and-port-dependent");
    assert_eq!(v["filtering"], "address-and-port-dependent");
    let v = nat_type("port-restricted");
    assert_eq!(v["mapping"], "endpoint-independent");
    assert_eq!(v["filtering"], "address-and-port-dependent");
    let v = nat_type("restricted");
    assert_eq!(v["filtering"], "address-dependent");
    let v = nat_type("mapping=adm,filtering=adf");
    assert_eq!(v["mapping"], "address-dependent");
    // Hairpinning is absent when not tested.
    let out = run(&[
        "sim",
        "nat-type",
        "--nat",
        "full-cone",
        "--no-hairpinning",
        "--json",
    ]);
    out.expect_code(0);
    assert!(out.json().get("hairpinning").is_none());
}

#[test]
fn bad_spec_is_bad_input_with_its_position() {
    let out = run(&["sim", "nat-type", "--nat", "full-cone,mapping=bogus"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("invalid NAT spec at byte"),
        "{}",
        out.stderr
    );
    let out = run(&["sim", "punch", "--a", "nope", "--b", "open"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("invalid NAT spec at byte 0"),
        "{}",
        out.stderr
    );
}

#[test]
fn punch_port_restricted_by_symmetric_is_not_direct() {
    let out = run(&[
        "sim",
        "punch",
        "--a",
        "port-restricted",
        "--b",
        "symmetric",
        "--json",
    ]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["direct"], false);
    // The fates explain it: peer packets were filtered by a NAT.
    let fates = v["fates"].as_array().unwrap();
    assert!(fates.iter().any(|f| {
        f["fate"] == "dropped"
            && f["detail"]["reason"]
                .as_str()
                .unwrap_or("")
                .contains("filtered")
    }));
    let human = run(&["sim", "punch", "--a", "port-restricted", "--b", "symmetric"]);
    human.expect_code(0);
    assert!(
        human.stdout.starts_with("hole punching     no"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("dropped: filtered"),
        "{}",
        human.stdout
    );
}

#[test]
fn punch_full_cone_by_full_cone_is_direct() {
    let dir = std::env::temp_dir().join(format!("icebreaker-punch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("punch.pcap");
    let out = run(&[
        "sim",
        "punch",
        "--a",
        "full-cone",
        "--b",
        "full-cone",
        "--seed",
        "7",
        "--json",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["direct"], true);
    // Each side sends to the address the other learned.
    assert_eq!(v["a"]["remote"], v["b"]["learned"]);
    assert_eq!(v["b"]["remote"], v["a"]["learned"]);
    assert_eq!(v["a"]["connected"], true);
    let bytes = std::fs::read(&pcap).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The classic pcap magic, either byte order.
    assert!(bytes.len() > 24);
    assert!(matches!(
        bytes[..4],
        [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
    ));
}

#[test]
fn run_json_fields() {
    let out = run(&[
        "sim",
        "run",
        "--a",
        "full-cone",
        "--b",
        "restricted",
        "--json",
    ]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["connected"], true);
    assert_eq!(v["verdict"], "direct");
    let ms = v["time_to_connect_ms"].as_f64().unwrap();
    assert!(ms > 0.0);
    // The default RTT is 40 ms: the same time counted in round trips.
    let rtts = v["time_to_connect_rtts"].as_f64().unwrap();
    assert!((rtts - ms / 40.0).abs() < 1e-3, "{rtts} vs {ms} ms");
    assert_eq!(v["selected"]["local"]["type"], "srflx");
    assert!(v["selected"]["remote"]["address"].is_string());
    assert!(!v["candidates"].as_array().unwrap().is_empty());
}

#[test]
fn run_without_turn_fails_between_symmetric_nats() {
    let out = run(&[
        "sim",
        "run",
        "--a",
        "symmetric",
        "--b",
        "symmetric",
        "--no-turn",
        "--json",
    ]);
    out.expect_code(1);
    let v = out.json();
    assert_eq!(v["connected"], false);
    assert!(v.get("selected").is_none());
    assert!(v["time_to_connect_ms"].is_null());
    assert!(v["time_to_connect_rtts"].is_null());
    // With TURN the same pairing connects through a relay.
    let out = run(&[
        "sim",
        "run",
        "--a",
        "symmetric",
        "--b",
        "symmetric",
        "--json",
    ]);
    out.expect_code(0);
    assert_eq!(out.json()["verdict"], "relay");
}

#[test]
fn run_trace_prints_a_ladder_and_pcap_is_written() {
    let dir = std::env::temp_dir().join(format!("icebreaker-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("run.pcap");
    let out = run(&[
        "sim",
        "run",
        "--a",
        "open",
        "--b",
        "full-cone",
        "--trace",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    out.expect_code(0);
    assert!(out.stdout.contains("ladder\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Binding request USE-CANDIDATE"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("selected pair"), "{}", out.stdout);
    let bytes = std::fs::read(&pcap).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bytes.len() > 100);
}

#[test]
fn matrix_json_has_36_cells() {
    let out = run(&["sim", "matrix", "--json"]);
    out.expect_code(0);
    let v = out.json();
    let cells = v.as_array().unwrap();
    assert_eq!(cells.len(), 36);
    for c in cells {
        let verdict = c["verdict"].as_str().unwrap();
        assert!(["direct", "relay", "failed"].contains(&verdict), "{c}");
        assert_eq!(c["selected"].is_null(), verdict == "failed", "{c}");
    }
    let human = run(&["sim", "matrix", "--no-turn"]);
    human.expect_code(0);
    assert!(human.stdout.contains("failed"), "{}", human.stdout);
    let bad = run(&["sim", "matrix", "--loss", "1.5"]);
    bad.expect_code(2);
}
