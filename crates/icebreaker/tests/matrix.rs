//! The classic NAT table with full ICE agents on the simulated internet (issue: ICE is held to
//! the hole-punching table of the NAT model).

use std::time::Duration;

use icebreaker::scenario::{CLASSIC, Scenario, matrix, run, run_with_vanish};
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

#[test]
fn every_pairing_connects_under_10_and_30_percent_loss() {
    // The simulator drops packets on each crossing of the public network; a relayed path crosses
    // it twice each way. Per-crossing loss of 1 - sqrt(1 - L) gives a relayed path L loss per
    // direction, and a direct path less.
    for path_loss in [0.10f64, 0.30] {
        let loss = 1.0 - (1.0 - path_loss).sqrt();
        for seed in seeds() {
            let cells = matrix(seed, true, loss, Duration::from_millis(40)).unwrap();
            for cell in &cells {
                assert!(
                    cell.outcome.connected,
                    "SIM_SEED={seed} path loss {path_loss}: {} x {} ended {:?}/{:?}",
                    cell.a, cell.b, cell.outcome.state_a, cell.outcome.state_b
                );
                let (a, b) = (
                    cell.outcome.selected.clone().unwrap(),
                    cell.outcome.selected_b.clone().unwrap(),
                );
                // Both sides agree on the path: A's remote is B's local address as B sees it,
                // or (through NATs) the same pair of candidate lines.
                assert_eq!(
                    a.1.kind == CandidateKind::Relayed,
                    b.0.kind == CandidateKind::Relayed,
                    "SIM_SEED={seed} path loss {path_loss}: {} x {}: A selected {:?}, B selected {:?}",
                    cell.a,
                    cell.b,
                    a,
                    b
                );
            }
        }
    }
}

#[test]
fn reordering_and_duplication_do_not_matter() {
    // Loss, reordering and duplication are applied by the simulator's links; the scenario's
    // `loss` knob covers loss, and this runs the same table with a lossy, jittery internet.
    for seed in seeds() {
        let mut sc = Scenario::new(
            "port-restricted".parse().unwrap(),
            "restricted".parse().unwrap(),
            seed,
        );
        sc.loss = 0.05;
        sc.rtt = Duration::from_millis(200);
        let out = run(&sc).unwrap();
        assert!(out.connected, "SIM_SEED={seed}");
        // Both sides use the same path (a lost direct check may let the relay win; that is a
        // policy outcome, not an error).
        let ((al, ar), (bl, br)) = (out.selected.unwrap(), out.selected_b.unwrap());
        assert_eq!(
            (ar.address, br.address),
            (bl.address, al.address),
            "SIM_SEED={seed}"
        );
    }
}

#[test]
fn time_to_connect_is_a_few_round_trips() {
    let rtt = Duration::from_millis(100);
    let mut sc = Scenario::new(
        "full-cone".parse().unwrap(),
        "port-restricted".parse().unwrap(),
        3,
    );
    sc.rtt = rtt;
    let out = run(&sc).unwrap();
    let t = out.time_to_connect.unwrap();
    let rtts = out.round_trips().unwrap();
    assert!((rtts - t.as_secs_f64() / rtt.as_secs_f64()).abs() < 1e-9);
    // Gathering (half an RTT to the STUN/TURN servers, which sit mid-way), the srflx check,
    // the nomination check: about 2 RTTs. (Holding the nomination for the host pair between
    // private addresses, which can never answer, for the whole nomination_delay took 4.1.)
    assert!(rtts < 3.5, "{rtts:.1} RTTs ({t:?})");
}

#[test]
fn ice_restart_recovers_after_the_nat_changes_the_peer_public_port() {
    use icebreaker::scenario::run_with_nat_reboot;
    for seed in seeds() {
        // B's NAT assigns random ports, so after a reboot B's traffic leaves from new ones.
        let mut sc = Scenario::new(
            "full-cone".parse().unwrap(),
            "mapping=eim,filtering=apdf,ports=random".parse().unwrap(),
            seed,
        );
        sc.turn = false;
        sc.limit = Duration::from_secs(120);
        let out = run_with_nat_reboot(&sc, Duration::from_secs(10)).unwrap();
        let restarted = out
            .restarted_at
            .unwrap_or_else(|| panic!("SIM_SEED={seed}: no agent noticed {out:?}"));
        // Consent checks notice within the disconnected timeout (10 s) plus one interval.
        assert!(
            restarted - out.rebooted_at <= Duration::from_secs(17),
            "SIM_SEED={seed} {out:?}"
        );
        let back = out
            .reconnected_at
            .unwrap_or_else(|| panic!("SIM_SEED={seed}: never reconnected {out:?}"));
        assert!(
            back - restarted < Duration::from_secs(3),
            "SIM_SEED={seed} {out:?}"
        );
        assert_ne!(out.b_before, out.b_after, "B's public port changed");
        assert_eq!(out.b_before.unwrap().ip(), out.b_after.unwrap().ip());
    }
}

#[test]
fn lossy_seeds_found_by_the_sweep_connect() {
    // `cargo xtask sim --seeds 0..10000` once found A failing here while B had a valid pair:
    // seed 187, A's answers from B all lost while A kept retransmitting instead of re-checking
    // when B's checks arrived (RFC 8445 §7.3.1.4); seed 1910, every one of A's seven doubling
    // retransmissions through the relay lost (the check RTO is now capped at 1 s: 18 sends in
    // the same 17.75 s). Pinned so they stay fixed.
    for (a, b, seed) in [
        ("symmetric", "firewall", 187),
        ("symmetric", "symmetric", 1910),
    ] {
        let mut sc = Scenario::new(a.parse().unwrap(), b.parse().unwrap(), seed);
        sc.loss = 1.0 - (1.0f64 - 0.30).sqrt();
        let out = run(&sc).unwrap();
        assert!(
            out.connected,
            "SIM_SEED={seed} {a} x {b}: {:?}/{:?}",
            out.state_a, out.state_b
        );
    }
}

#[test]
fn a_vanished_peer_loses_consent_within_30_seconds() {
    for seed in seeds() {
        for (a, b) in [
            ("port-restricted", "symmetric"),
            ("full-cone", "restricted"),
        ] {
            let sc = Scenario::new(a.parse().unwrap(), b.parse().unwrap(), seed);
            let out = run_with_vanish(&sc, Duration::from_secs(20)).unwrap();
            let failed = out
                .failed_at
                .unwrap_or_else(|| panic!("SIM_SEED={seed} {a} x {b}: A never failed {out:?}"));
            let silent = failed - out.vanished_at;
            // Consent expires 30 s after the last answer, which came at most one consent
            // interval (~5 s) before B vanished, or just after it if it was already on its way
            // across the internet (the 10 000-seed sweep found seed 19 so, 12.7 ms late).
            assert!(
                silent <= Duration::from_secs(30) + sc.rtt,
                "SIM_SEED={seed}: {silent:?}"
            );
            assert!(
                silent >= Duration::from_secs(24),
                "SIM_SEED={seed}: {silent:?}"
            );
            let disconnected = out.disconnected_at.expect("Disconnected first");
            assert!(disconnected < failed, "SIM_SEED={seed} {out:?}");
            assert!(out.sending_stopped, "SIM_SEED={seed}");
        }
    }
}

#[test]
fn two_controlling_agents_resolve_the_conflict_across_nats() {
    for seed in seeds() {
        for (a, b) in [("port-restricted", "full-cone"), ("symmetric", "symmetric")] {
            let mut sc = Scenario::new(a.parse().unwrap(), b.parse().unwrap(), seed);
            sc.b_controlling = true;
            let out = run(&sc).unwrap();
            assert!(out.connected, "SIM_SEED={seed} {a} x {b}: {out:?}");
            let (la, ra) = out.selected.clone().unwrap();
            let (lb, rb) = out.selected_b.clone().unwrap();
            assert_eq!((la.address, ra.address), (rb.address, lb.address));
        }
    }
}

#[test]
fn a_full_agent_connects_to_a_lite_agent_on_a_public_address() {
    for seed in seeds() {
        for a in ["open", "port-restricted", "symmetric"] {
            let mut sc = Scenario::new(a.parse().unwrap(), "open".parse().unwrap(), seed);
            sc.b_lite = true;
            let out = run(&sc).unwrap();
            assert!(out.connected, "SIM_SEED={seed} {a} x lite: {out:?}");
            assert_eq!(out.verdict(), "direct", "SIM_SEED={seed} {a} x lite");
            let (local, remote) = out.selected.clone().unwrap();
            assert_eq!(remote.kind, CandidateKind::Host, "the lite agent's host");
            // Both agree on the pair A's checks (and USE-CANDIDATE) chose.
            let (lb, rb) = out.selected_b.clone().unwrap();
            assert_eq!((lb.address, rb.address), (remote.address, local.address));
        }
    }
}
