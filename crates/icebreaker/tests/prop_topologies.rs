//! Random topologies and seeds: no panic, and whenever both agents connect they agree on the
//! selected pair (each side's remote is the other side's local address).

use std::time::Duration;

use icebreaker::scenario::{Scenario, run};
use proptest::prelude::*;

fn nat() -> impl Strategy<Value = String> {
    let preset = prop::sample::select(vec![
        "open",
        "firewall",
        "full-cone",
        "restricted",
        "port-restricted",
        "symmetric",
        "masquerade",
    ])
    .prop_map(str::to_string);
    let terms = (
        prop::sample::select(vec!["eim", "adm", "apdm"]),
        prop::sample::select(vec!["eif", "adf", "apdf"]),
        prop::sample::select(vec!["preserve", "sequential", "random"]),
        prop::sample::select(vec!["on", "off"]),
    )
        .prop_map(|(m, f, p, h)| format!("mapping={m},filtering={f},ports={p},hairpin={h}"));
    let single = prop_oneof![3 => preset, 2 => terms];
    // Sometimes a home NAT behind a carrier NAT.
    (single.clone(), prop::option::weighted(0.2, single)).prop_map(|(a, b)| match b {
        Some(b) => format!("{a}+{b}"),
        None => a,
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn agents_agree_on_the_selected_pair(a in nat(), b in nat(), seed in any::<u64>(), turn in any::<bool>(), loss in 0.0f64..0.15) {
        let mut sc = Scenario::new(a.parse().unwrap(), b.parse().unwrap(), seed);
        sc.turn = turn;
        sc.loss = loss;
        sc.limit = Duration::from_secs(45);
        let out = run(&sc).unwrap();
        if turn && loss == 0.0 {
            prop_assert!(out.connected, "SIM_SEED={seed} {a} x {b}: {:?}/{:?}", out.state_a, out.state_b);
        }
        if out.connected {
            let (al, ar) = out.selected.clone().unwrap();
            let (bl, br) = out.selected_b.clone().unwrap();
            prop_assert_eq!(ar.address, bl.address, "SIM_SEED={} {} x {}", seed, a, b);
            prop_assert_eq!(br.address, al.address, "SIM_SEED={} {} x {}", seed, a, b);
        }
    }
}
