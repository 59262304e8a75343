//! The proofs with real STUN from `icebreaker-stun`: the hole-punching table between probes that
//! learn their addresses from the binding server, and RFC 5780 discovery against every preset and
//! all nine mapping × filtering combinations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_nat::{Filtering, Mapping, NatConfig, NatSpec};
use icebreaker_sim::discovery::Topology;
use icebreaker_sim::punch::{self, CLASSIC, EXPECTED, ProbeCodec, ProbeMessage, PunchConfig};
use icebreaker_sim::{Datagram, Endpoint, Fate, HostId, seeds_from_env};
use icebreaker_stun::attributes::XorMappedAddress;
use icebreaker_stun::discovery::{Behavior, DiscoveryConfig, NatBehavior, NatDiscovery};
use icebreaker_stun::server::{BindingServer, ServerConfig};
use icebreaker_stun::{Class, Message, MessageWriter, Method, TransactionId};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Probe messages as real STUN Binding requests and success responses (with FINGERPRINT).
#[derive(Debug, Clone, Copy)]
struct StunCodec;

impl ProbeCodec for StunCodec {
    fn encode_request(&mut self, tid: [u8; 12], buf: &mut Vec<u8>) {
        let mut out = [0u8; 64];
        let n = MessageWriter::new(
            &mut out,
            Class::Request,
            Method::BINDING,
            TransactionId::new(tid),
        )
        .and_then(|w| w.finish(true))
        .expect("a binding request fits");
        buf.extend_from_slice(&out[..n]);
    }

    fn encode_response(&mut self, tid: [u8; 12], mapped: SocketAddr, buf: &mut Vec<u8>) {
        let mut out = [0u8; 128];
        let n = MessageWriter::new(
            &mut out,
            Class::Success,
            Method::BINDING,
            TransactionId::new(tid),
        )
        .and_then(|mut w| {
            w.push(&XorMappedAddress(mapped))?;
            w.finish(true)
        })
        .expect("a binding response fits");
        buf.extend_from_slice(&out[..n]);
    }

    fn decode(&mut self, data: &[u8]) -> Option<ProbeMessage> {
        let msg = Message::parse(data).ok()?;
        if msg.method() != Method::BINDING {
            return None;
        }
        let tid = *msg.transaction_id().as_bytes();
        match msg.class() {
            Class::Request => Some(ProbeMessage::Request { tid }),
            Class::Success => {
                let mapped = msg.get::<XorMappedAddress>().ok()??.0;
                Some(ProbeMessage::Response { tid, mapped })
            }
            _ => None,
        }
    }
}

/// icebreaker-stun's binding server, unchanged, as a simulator endpoint.
struct Server(BindingServer, Vec<u8>);

impl Endpoint for Server {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.0.handle_receive(now, from, to, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.0.poll_transmit(&mut self.1)?;
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.1),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

/// icebreaker-stun's RFC 5780 discovery client, unchanged, as a simulator endpoint.
struct Client(NatDiscovery, Vec<u8>);

impl Endpoint for Client {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.0.handle_receive(now, from, to, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.0.poll_transmit(&mut self.1)?;
        Some(Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&self.1),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

#[test]
fn hole_punching_table_with_stun() {
    let epoch = Instant::now();
    let mut failures = Vec::new();
    for seed in seeds_from_env(0..3) {
        for (i, a) in CLASSIC.iter().enumerate() {
            for (j, b) in CLASSIC.iter().enumerate() {
                let config = PunchConfig::new(a.parse().unwrap(), b.parse().unwrap(), seed, epoch);
                let outcome = punch::run_with_server(&config, StunCodec, |addr| {
                    let config = ServerConfig {
                        primary: Some(addr),
                        ..ServerConfig::default()
                    };
                    Box::new(Server(BindingServer::new(config), Vec::new()))
                })
                .unwrap_or_else(|e| panic!("{a} x {b}: {e}"));
                // Both sides learned their address from the STUN server.
                assert!(outcome.a.learned.is_some() && outcome.b.learned.is_some());
                if outcome.direct != EXPECTED[i][j] {
                    failures.push(format!(
                        "{a} x {b}: direct={} SIM_SEED={seed}",
                        outcome.direct
                    ));
                }
                if outcome.direct {
                    // Each side ended up sending to the address the other's packets came from.
                    let (ra, rb) = (outcome.a.remote.unwrap(), outcome.b.remote.unwrap());
                    let reached = |from: HostId, to: SocketAddr, host: HostId| {
                        outcome.fates.iter().any(|f| {
                            f.host == Some(from)
                                && f.to == to
                                && matches!(f.fate, Fate::Delivered { host: h, .. } if h == host)
                        })
                    };
                    assert!(reached(outcome.a.host, ra, outcome.b.host), "{a} x {b}");
                    assert!(reached(outcome.b.host, rb, outcome.a.host), "{a} x {b}");
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn restricted_by_symmetric_needs_paired_pooling() {
    let epoch = Instant::now();
    let run = |b: &str| {
        let config = PunchConfig::new("restricted".parse().unwrap(), b.parse().unwrap(), 1, epoch);
        punch::run(&config, StunCodec).unwrap().direct
    };
    assert!(run("symmetric,ips=2,pool=paired"));
    // With arbitrary pooling over many addresses the symmetric side's second mapping lands on
    // another address, which the restricted side's address-dependent filter has never seen.
    assert!(!run("symmetric,ips=16,pool=arbitrary"));
}

fn discover(spec: &NatSpec, seed: u64) -> NatBehavior {
    let epoch = Instant::now();
    let mut t = Topology::new(spec, seed, epoch).unwrap();
    let server = BindingServer::new(ServerConfig {
        primary: Some(t.primary),
        other: Some(t.alternate),
        ..ServerConfig::default()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(t.sim.next_seed());
    let client = NatDiscovery::new(
        epoch,
        t.client,
        t.primary,
        DiscoveryConfig::default(),
        &mut rng,
    );
    let host = t
        .run(
            Box::new(Server(server, Vec::new())),
            Client(client, Vec::new()),
            Duration::from_secs(60),
            |c| c.0.is_finished(),
        )
        .unwrap_or_else(|e| panic!("{spec}: {e}"));
    let client = t.sim.endpoint::<Client>(host).unwrap();
    client
        .0
        .result()
        .unwrap()
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn behavior_of_mapping(m: Mapping) -> Behavior {
    match m {
        Mapping::EndpointIndependent => Behavior::EndpointIndependent,
        Mapping::AddressDependent => Behavior::AddressDependent,
        Mapping::AddressAndPortDependent => Behavior::AddressAndPortDependent,
    }
}

fn behavior_of_filtering(f: Filtering) -> Behavior {
    match f {
        Filtering::EndpointIndependent => Behavior::EndpointIndependent,
        Filtering::AddressDependent => Behavior::AddressDependent,
        Filtering::AddressAndPortDependent => Behavior::AddressAndPortDependent,
    }
}

fn check(spec_text: &str, seed: u64) {
    let spec: NatSpec = spec_text.parse().unwrap();
    let config = &spec.layers[0];
    let found = discover(&spec, seed);
    let (mapping, filtering) = if !config.stateful {
        (Behavior::EndpointIndependent, Behavior::EndpointIndependent)
    } else if !config.translate {
        // A firewall does not translate: mapping is endpoint-independent by definition.
        (
            Behavior::EndpointIndependent,
            behavior_of_filtering(config.filtering),
        )
    } else {
        (
            behavior_of_mapping(config.mapping),
            behavior_of_filtering(config.filtering),
        )
    };
    assert_eq!(
        found.nat,
        config.stateful && config.translate,
        "{spec_text} SIM_SEED={seed}"
    );
    assert_eq!(found.mapping, mapping, "{spec_text} SIM_SEED={seed}");
    assert_eq!(found.filtering, filtering, "{spec_text} SIM_SEED={seed}");
    if found.nat && config.mapping == Mapping::EndpointIndependent {
        // An endpoint-independent mapping admits its own hairpinned request whatever the filter.
        assert_eq!(
            found.hairpinning,
            Some(config.hairpin),
            "{spec_text} SIM_SEED={seed}"
        );
    }
    if found.nat && !config.hairpin {
        assert_eq!(
            found.hairpinning,
            Some(false),
            "{spec_text} SIM_SEED={seed}"
        );
    }
}

#[test]
fn rfc5780_discovery_reports_every_preset() {
    for seed in seeds_from_env(0..2) {
        for name in NatConfig::PRESETS {
            check(name, seed);
        }
        check("full-cone,hairpin=off", seed);
        check("port-restricted,ips=2", seed);
    }
}

#[test]
fn rfc5780_discovery_reports_all_nine_combinations() {
    for seed in seeds_from_env(0..2) {
        for m in ["eim", "adm", "apdm"] {
            for f in ["eif", "adf", "apdf"] {
                for ports in ["preserve", "sequential", "random"] {
                    check(&format!("mapping={m},filtering={f},ports={ports}"), seed);
                }
            }
        }
    }
}
