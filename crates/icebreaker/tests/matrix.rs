//! The classic NAT table with full ICE agents on the simulated internet (issue: ICE is held to
//! the hole-punching table of the NAT model).

use std::time::Duration;

use icebreaker::scenario::{CLASSIC, Scenario, matrix, run};
use icebreaker_ice::CandidateKind;

/// RFC 4787 expectations for a working path without a relay, row A, column B, in CLASSIC order.
const DIRECT: [[bool; 6]; 6] = [
    // open  firewall full  restr  port   symm
    [true, true, true, true, true, true],    // open
    [true, true, true, true, true, false],   // firewall
    [true, true, true, true, true, true],    // full-cone
    [true, true, true, true, true, true],    // restricted
    [true, true, true, true, true, false],   // port-restricted
    [true, false, true, true, false, false], // symmetric
];

fn seeds() -> Vec<u64> {
    match std::env::var("SIM_SEEDS") {
        Ok(r) => {
            let (a, b) = r.split_once("..").expect("SIM_SEEDS=A..B");
            (a.parse().unwrap()..b.parse().unwrap()).collect()
        }
        Err(_) => vec![1, 2],
    }
}

#[test]
fn matrix_with_turn_connects_every_pair_direct_where_the_table_says() {
    for seed in seeds() {
        let cells = matrix(seed, true, 0.0, Duration::from_millis(40)).unwrap();
        let mut report = String::new();
        let mut wrong = 0;
        for (i, cell) in cells.iter().enumerate() {
            let expect = if DIRECT[i / 6][i % 6] {
                "direct"
            } else {
                "relay"
            };
            let got = cell.outcome.verdict();
            if got != expect {
                wrong += 1;
            }
            report.push_str(&format!(
                "{:>16} x {:<16} {got:<7} (expected {expect}) {:?}\n",
                cell.a, cell.b, cell.outcome.time_to_connect
            ));
        }
        assert_eq!(wrong, 0, "SIM_SEED={seed}\n{report}");
    }
}

#[test]
fn matrix_without_turn_fails_cleanly_where_a_relay_is_needed() {
    for seed in seeds() {
        let cells = matrix(seed, false, 0.0, Duration::from_millis(40)).unwrap();
        for (i, cell) in cells.iter().enumerate() {
            let expect = if DIRECT[i / 6][i % 6] {
                "direct"
            } else {
                "failed"
            };
            assert_eq!(
                cell.outcome.verdict(),
                expect,
                "SIM_SEED={seed} {} x {}",
                cell.a,
                cell.b
            );
            if expect == "failed" {
                // Failure is a state, reached well before the limit, on both sides.
                assert_eq!(
                    (cell.outcome.state_a, cell.outcome.state_b),
                    (icebreaker_ice::State::Failed, icebreaker_ice::State::Failed),
                    "{} x {}",
                    cell.a,
                    cell.b
                );
            }
        }
    }
}

#[test]
fn selected_pair_types_are_reported() {
    let sc = Scenario::new(
        "port-restricted".parse().unwrap(),
        "symmetric".parse().unwrap(),
        1,
    );
    let out = run(&sc).unwrap();
    assert!(out.connected);
    let (local, remote) = out.selected.unwrap();
    assert!(
        local.kind == CandidateKind::Relayed || remote.kind == CandidateKind::Relayed,
        "{local:?} {remote:?}"
    );
    let sc = Scenario::new(
        "full-cone".parse().unwrap(),
        "full-cone".parse().unwrap(),
        1,
    );
    let out = run(&sc).unwrap();
    let (local, remote) = out.selected.unwrap();
    assert_ne!(local.kind, CandidateKind::Relayed);
    assert_ne!(remote.kind, CandidateKind::Relayed);
    assert!(
        out.time_to_connect.unwrap() < Duration::from_secs(2),
        "{:?}",
        out.time_to_connect
    );
    assert_eq!(CLASSIC.len(), 6);
}

#[test]
fn same_seed_same_outcome() {
    let mut sc = Scenario::new(
        "restricted".parse().unwrap(),
        "symmetric".parse().unwrap(),
        9,
    );
    sc.trace = true;
    let (x, y) = (run(&sc).unwrap(), run(&sc).unwrap());
    assert_eq!(x, y);
    assert!(x.ladder.len() > 10);
}
