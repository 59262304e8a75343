//! Two agents wired back to back with a virtual clock (no NAT: the simulator covers NATs).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use icebreaker_ice::{
    Agent, AgentConfig, Candidate, CandidateKind, Credentials, Error, Event, Received, State,
    TurnServer, TurnTransport,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn creds(c: char) -> Credentials {
    Credentials {
        ufrag: c.to_string().repeat(4),
        pwd: c.to_string().repeat(22),
    }
}

/// Whether to drop a datagram (from, to, bytes).
type DropRule = Box<dyn Fn(SocketAddr, SocketAddr, &[u8]) -> bool>;
/// One-way delay of a datagram (from, to).
type DelayRule = Box<dyn Fn(SocketAddr, SocketAddr) -> Duration>;

fn fixed_delay(ms: u64) -> DelayRule {
    Box::new(move |_, _| Duration::from_millis(ms))
}

struct Pair {
    a: Agent,
    b: Agent,
    now: Instant,
    t0: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
    /// Drop a datagram (from, to, bytes) when this says so.
    drop: DropRule,
    delay: DelayRule,
    in_flight: Vec<(Instant, bool, SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Pair {
    fn new(
        a_config: AgentConfig,
        b_config: AgentConfig,
        a_hosts: &[&str],
        b_hosts: &[&str],
        signal: bool,
    ) -> Self {
        let (mut a, mut b) = agents(a_config, b_config, a_hosts, b_hosts);
        if signal {
            exchange_candidates(&mut a, &mut b);
            a.end_of_remote_candidates();
            b.end_of_remote_candidates();
        }
        Self::start(a, b, fixed_delay(10))
    }

    /// Starts `a` and `b` now and wires them together, with `delay` one way.
    fn start(mut a: Agent, mut b: Agent, delay: DelayRule) -> Self {
        let now = Instant::now();
        a.start(now);
        b.start(now);
        Self {
            a,
            b,
            now,
            t0: now,
            a_events: Vec::new(),
            b_events: Vec::new(),
            drop: Box::new(|_, _, _| false),
            delay,
            in_flight: Vec::new(),
        }
    }

    /// Restarts ICE on both sides (RFC 8445 §9) with fresh credentials (A: "c", B: "d").
    fn restart(&mut self) {
        self.a.restart(self.now, creds('c'));
        self.b.restart(self.now, creds('d'));
    }

    /// After [`restart`](Self::restart): the new credentials and candidates signalled.
    fn signal_restart(&mut self) {
        self.a.set_remote_credentials(creds('d')).unwrap();
        self.b.set_remote_credentials(creds('c')).unwrap();
        exchange_candidates(&mut self.a, &mut self.b);
    }

    /// Runs until `until` holds or `limit` of virtual time passes.
    fn run(&mut self, limit: Duration, until: impl Fn(&Self) -> bool) -> Duration {
        let mut buf = Vec::new();
        let end = self.now + limit;
        while self.now < end && !until(self) {
            for (from_a, agent) in [(true, &mut self.a), (false, &mut self.b)] {
                while let Some(t) = agent.poll_transmit(&mut buf) {
                    if !(self.drop)(t.from, t.to, &buf) {
                        self.in_flight.push((
                            self.now + (self.delay)(t.from, t.to),
                            from_a,
                            t.from,
                            t.to,
                            buf.clone(),
                        ));
                    }
                }
            }
            while let Some(e) = self.a.poll_event() {
                self.a_events.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.b_events.push(e);
            }
            let next_delivery = self.in_flight.iter().map(|f| f.0).min();
            let next = [self.a.poll_timeout(), self.b.poll_timeout(), next_delivery]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now + Duration::from_millis(100))
                .max(self.now)
                .min(end);
            self.now = if next == self.now {
                self.now + Duration::from_micros(1)
            } else {
                next
            };
            let (due, later): (Vec<_>, Vec<_>) =
                self.in_flight.drain(..).partition(|f| f.0 <= self.now);
            self.in_flight = later;
            for (_, from_a, from, to, bytes) in due {
                let target = if from_a { &mut self.b } else { &mut self.a };
                let _ = target.handle_receive(self.now, from, to, &bytes);
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
        self.a_events
            .extend(std::iter::from_fn(|| self.a.poll_event()));
        self.b_events
            .extend(std::iter::from_fn(|| self.b.poll_event()));
        self.now - self.t0
    }

    /// A controlling A (192.0.2.1:5000) and a controlled B (192.0.2.2:6000), one host candidate
    /// each, candidates exchanged.
    fn hosts() -> Self {
        Self::new(
            controlling(),
            controlled(),
            &["192.0.2.1:5000"],
            &["192.0.2.2:6000"],
            true,
        )
    }

    /// A controlling A and a controlled B, each with an IPv4 and an IPv6 host candidate,
    /// candidates exchanged.
    fn dual_stack() -> Self {
        Self::new(
            controlling(),
            controlled(),
            &["192.0.2.1:5000", "[2001:db8::1]:5000"],
            &["192.0.2.2:6000", "[2001:db8::2]:6000"],
            true,
        )
    }

    fn connected(&self) -> bool {
        self.a.state() == State::Connected && self.b.state() == State::Connected
    }
}

/// A (credentials "a") and B (credentials "b") with these host candidates, each knowing the
/// other's credentials but no candidates, not started.
fn agents(
    a_config: AgentConfig,
    b_config: AgentConfig,
    a_hosts: &[&str],
    b_hosts: &[&str],
) -> (Agent, Agent) {
    let mut a = Agent::new(a_config, creds('a'));
    let mut b = Agent::new(b_config, creds('b'));
    for h in a_hosts {
        a.add_host_candidate(addr(h), 1).unwrap();
    }
    for h in b_hosts {
        b.add_host_candidate(addr(h), 1).unwrap();
    }
    a.set_remote_credentials(creds('b')).unwrap();
    b.set_remote_credentials(creds('a')).unwrap();
    (a, b)
}

/// Starts `a` and runs it alone for `limit` of virtual time, nothing ever answering; returns
/// every datagram it sent: (when, from, to).
fn sent_alone(a: &mut Agent, limit: Duration) -> Vec<(Duration, SocketAddr, SocketAddr)> {
    let t0 = Instant::now();
    a.start(t0);
    let (mut now, mut buf, mut sent) = (t0, Vec::new(), Vec::new());
    while now - t0 < limit {
        a.handle_timeout(now);
        while let Some(t) = a.poll_transmit(&mut buf) {
            sent.push((now - t0, t.from, t.to));
        }
        now = a
            .poll_timeout()
            .unwrap_or(now + Duration::from_millis(10))
            .max(now + Duration::from_micros(1));
    }
    sent
}

/// Signals each agent's local candidates to the other.
fn exchange_candidates(a: &mut Agent, b: &mut Agent) {
    let ac: Vec<_> = a.local_candidates().cloned().collect();
    let bc: Vec<_> = b.local_candidates().cloned().collect();
    ac.into_iter()
        .for_each(|c| b.add_remote_candidate(c).unwrap());
    bc.into_iter()
        .for_each(|c| a.add_remote_candidate(c).unwrap());
}

fn controlling() -> AgentConfig {
    AgentConfig {
        controlling: true,
        rng_seed: [1; 32],
        ..Default::default()
    }
}

fn controlled() -> AgentConfig {
    AgentConfig {
        controlling: false,
        rng_seed: [2; 32],
        ..Default::default()
    }
}

fn selected(events: &[Event]) -> Option<(SocketAddr, SocketAddr)> {
    events.iter().rev().find_map(|e| match e {
        Event::SelectedPair { local, remote, .. } => Some((local.address, remote.address)),
        _ => None,
    })
}

#[test]
fn host_to_host_connects_and_both_sides_agree() {
    let mut p = Pair::hosts();
    let took = p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected(), "{:?} {:?}", p.a.state(), p.b.state());
    let (al, ar) = selected(&p.a_events).unwrap();
    let (bl, br) = selected(&p.b_events).unwrap();
    assert_eq!((al, ar), (br, bl));
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert!(p.a_events.contains(&Event::StateChanged(State::Checking)));
}

#[test]
fn highest_priority_pair_wins_with_several_interfaces() {
    let mut p = Pair::dual_stack();
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    // RFC 8421: IPv6 is preferred.
    assert_eq!(
        selected(&p.a_events).unwrap(),
        (addr("[2001:db8::1]:5000"), addr("[2001:db8::2]:6000"))
    );
    assert_eq!(
        selected(&p.b_events).unwrap(),
        (addr("[2001:db8::2]:6000"), addr("[2001:db8::1]:5000"))
    );
}

/// A better pair whose check is out but never answered holds the nomination of a working pair
/// back for twice that pair's round trip (at least Ta), not for the whole `nomination_delay`:
/// here the IPv6 pair (preferred, RFC 8421) is black-holed.
#[test]
fn nomination_does_not_wait_out_the_delay_for_a_pair_that_never_answers() {
    let mut p = Pair::dual_stack();
    // The IPv6 check leaves at 0 and the IPv4 one a Ta later; the IPv4 pair is valid one RTT
    // (20 ms) after that, at 70 ms, when the IPv6 check has been out for 70 ms > max(2 × 20, 50):
    // A nominates at the next Ta (100 ms) and both sides are connected at 120 ms. Waiting the
    // whole nomination_delay would mean 70 + 200 ms, then the next Ta.
    connects_over_ipv4_with_ipv6_broken(&mut p);
}

/// Drops every IPv6 datagram: A and B connect over 192.0.2.1 ↔ 192.0.2.2 within 130 ms.
fn connects_over_ipv4_with_ipv6_broken(p: &mut Pair) {
    p.drop = Box::new(|from, _, _| from.is_ipv6());
    let took = p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert_eq!(
        selected(&p.a_events).unwrap(),
        (addr("192.0.2.1:5000"), addr("192.0.2.2:6000"))
    );
    assert!(took <= Duration::from_millis(130), "took {took:?}");
}

/// RFC 8421 §4: with three IPv6 addresses and one IPv4 address on each side and IPv6 broken,
/// the IPv4 pair is checked second (the families alternate), not after every IPv6 pair, so
/// the agents connect as fast as with one address of each family.
#[test]
fn a_broken_family_costs_one_check_not_one_per_address() {
    let mut p = Pair::new(
        controlling(),
        controlled(),
        &[
            "[2001:db8::1]:5000",
            "[2001:db8::11]:5000",
            "[2001:db8::21]:5000",
            "192.0.2.1:5000",
        ],
        &[
            "[2001:db8::2]:6000",
            "[2001:db8::12]:6000",
            "[2001:db8::22]:6000",
            "192.0.2.2:6000",
        ],
        true,
    );
    let order: Vec<SocketAddr> = {
        let mut hosts: Vec<_> = p.a.local_candidates().collect();
        hosts.sort_by_key(|c| std::cmp::Reverse(c.priority));
        hosts.iter().map(|c| c.address).collect()
    };
    assert_eq!(
        order,
        [
            addr("[2001:db8::1]:5000"),
            addr("192.0.2.1:5000"),
            addr("[2001:db8::11]:5000"),
            addr("[2001:db8::21]:5000"),
        ]
    );
    // As in the one-address case above: the IPv4 check leaves a Ta after the first IPv6 one.
    connects_over_ipv4_with_ipv6_broken(&mut p);
}

/// On a long round trip the same rule still waits for a better pair that answers within twice
/// the working pair's round trip: IPv4 takes 100 ms, IPv6 160 ms, and IPv6 is nominated.
#[test]
fn nomination_waits_for_a_better_pair_within_twice_the_round_trip() {
    let mut p = Pair::dual_stack();
    p.delay = Box::new(|from, _| Duration::from_millis(if from.is_ipv6() { 80 } else { 50 }));
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert_eq!(
        selected(&p.a_events).unwrap(),
        (addr("[2001:db8::1]:5000"), addr("[2001:db8::2]:6000"))
    );
}

/// Only A knows B's first candidate; B learns A's address from A's checks, and pairs that
/// peer-reflexive candidate with the local candidate the checks reached and with no other
/// (RFC 8445 §7.3.1.3), not even one added later.
#[test]
fn peer_reflexive_candidates_are_learned_from_checks() {
    let (mut a, b) = agents(
        controlling(),
        controlled(),
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000", "192.0.2.3:6000"],
    );
    let first = b.local_candidates().next().unwrap().clone();
    assert_eq!(first.address, addr("192.0.2.2:6000"));
    a.add_remote_candidate(first).unwrap();
    let mut p = Pair::start(a, b, fixed_delay(5));
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    let prflx =
        p.b.remote_candidates()
            .iter()
            .find(|c| c.address == addr("192.0.2.1:5000"))
            .unwrap();
    assert_eq!(prflx.kind, CandidateKind::PeerReflexive);
    assert_eq!(
        p.b.pair_count(),
        1,
        "the prflx candidate was paired with both hosts"
    );
    p.b.add_host_candidate(addr("192.0.2.4:6000"), 1).unwrap();
    assert_eq!(p.b.pair_count(), 1);
}

#[test]
fn both_controlling_resolve_the_conflict() {
    let mut p = Pair::new(
        controlling(),
        AgentConfig {
            controlling: true,
            rng_seed: [3; 32],
            ..Default::default()
        },
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
        true,
    );
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert_ne!(p.a.is_controlling(), p.b.is_controlling());
    let switched = p
        .a_events
        .iter()
        .chain(&p.b_events)
        .filter(|e| matches!(e, Event::RoleChanged { .. }))
        .count();
    assert_eq!(switched, 1);
}

#[test]
fn both_controlled_resolve_the_conflict() {
    let mut p = Pair::new(
        AgentConfig {
            rng_seed: [4; 32],
            ..Default::default()
        },
        controlled(),
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
        true,
    );
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert_ne!(p.a.is_controlling(), p.b.is_controlling());
}

#[test]
fn full_agent_connects_to_a_lite_agent() {
    let lite = AgentConfig {
        lite: true,
        rng_seed: [5; 32],
        ..Default::default()
    };
    let mut p = Pair::new(
        controlling(),
        lite,
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
        true,
    );
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert!(!p.b.is_controlling() && p.b.is_lite());
    assert_eq!(p.b.stats().checks_sent, 0);
}

/// A controlling A with credentials `a` and a controlled B with `b`, one host candidate each,
/// credentials and candidates exchanged, started.
fn pair_with(a_creds: Credentials, b_creds: Credentials) -> Pair {
    let mut a = Agent::new(controlling(), a_creds.clone());
    let mut b = Agent::new(controlled(), b_creds.clone());
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    b.add_host_candidate(addr("192.0.2.2:6000"), 1).unwrap();
    a.set_remote_credentials(b_creds).unwrap();
    b.set_remote_credentials(a_creds).unwrap();
    exchange_candidates(&mut a, &mut b);
    a.end_of_remote_candidates();
    b.end_of_remote_candidates();
    Pair::start(a, b, fixed_delay(10))
}

#[test]
fn the_longest_ufrag_sdp_allows_connects() {
    // RFC 8839 allows 256 ice-chars: each side's checks carry a 261-byte USERNAME.
    let long = Credentials {
        ufrag: "a".repeat(256),
        pwd: "p".repeat(256),
    };
    let mut p = pair_with(long, creds('b'));
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected(), "{:?} {:?}", p.a.state(), p.b.state());
    assert!(selected(&p.a_events).is_some() && selected(&p.b_events).is_some());
}

#[test]
fn credentials_that_make_too_long_a_username_are_refused() {
    let long = |c: char| Credentials {
        ufrag: c.to_string().repeat(254),
        pwd: c.to_string().repeat(22),
    };
    let b = dead_host(2);
    let checks_to_b = |remote: Credentials| {
        let mut a = Agent::new(controlling(), long('a'));
        a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
        let set = a.set_remote_credentials(remote);
        a.add_remote_candidate(b.clone()).unwrap();
        let sent = sent_alone(&mut a, Duration::from_secs(2));
        (set, sent.iter().filter(|s| s.2 == b.address).count())
    };
    // 254 + 1 + 254 = 509 bytes, one more than STUN allows: refused, and nothing is sent.
    assert_eq!(
        checks_to_b(long('b')),
        (Err(Error::UsernameTooLong { len: 509 }), 0)
    );
    // 508 bytes fit, and the checks go out.
    let fits = Credentials {
        ufrag: "b".repeat(253),
        pwd: "b".repeat(22),
    };
    let (set, checks) = checks_to_b(fits);
    assert_eq!(set, Ok(()));
    assert!(checks > 0);
}

#[test]
fn no_path_fails_cleanly_after_end_of_candidates() {
    let mut p = Pair::hosts();
    p.drop = Box::new(|_, _, _| true);
    p.run(Duration::from_secs(60), |p| {
        p.a.state() == State::Failed && p.b.state() == State::Failed
    });
    assert_eq!((p.a.state(), p.b.state()), (State::Failed, State::Failed));
}

/// Runs `a` alone (nothing answers) from `from` until `until` of virtual time since `t0`.
fn run_alone(a: &mut Agent, t0: Instant, from: Duration, until: Duration) {
    let mut buf = Vec::new();
    let mut now = t0 + from;
    while now < t0 + until {
        a.handle_timeout(now);
        while a.poll_transmit(&mut buf).is_some() {}
        now = a
            .poll_timeout()
            .unwrap_or(now + Duration::from_millis(100))
            .max(now + Duration::from_micros(1));
    }
}

#[test]
fn end_of_candidates_after_the_last_pair_failed_fails_the_agent() {
    let mut a = Agent::new(controlling(), creds('a'));
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    a.set_remote_credentials(creds('b')).unwrap();
    a.add_remote_candidate(dead_host(2)).unwrap();
    let t0 = Instant::now();
    a.start(t0);
    // Every check times out; the peer may still trickle candidates, so A keeps checking.
    run_alone(&mut a, t0, Duration::ZERO, Duration::from_secs(60));
    assert_eq!(a.state(), State::Checking);
    // The peer's end-of-candidates arrives late: nothing is left to try.
    a.end_of_remote_candidates();
    assert_eq!(a.state(), State::Failed);
}

#[test]
fn no_pair_at_all_fails_once_both_sides_are_done() {
    // An IPv4-only agent given only IPv6 candidates: no pair can form.
    let mut a = Agent::new(controlling(), creds('a'));
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    a.set_remote_credentials(creds('b')).unwrap();
    let six = Candidate::new(
        CandidateKind::Host,
        addr("[2001:db8::2]:6000"),
        65535,
        1,
        "six".into(),
    );
    a.add_remote_candidate(six).unwrap();
    a.end_of_remote_candidates();
    let t0 = Instant::now();
    a.start(t0);
    run_alone(&mut a, t0, Duration::ZERO, Duration::from_secs(5));
    assert_eq!(a.state(), State::Failed);
}

#[test]
fn a_lite_agent_does_not_fail_for_want_of_pairs() {
    let lite = AgentConfig {
        lite: true,
        rng_seed: [5; 32],
        ..Default::default()
    };
    let mut b = Agent::new(lite, creds('b'));
    b.add_host_candidate(addr("192.0.2.2:6000"), 1).unwrap();
    b.set_remote_credentials(creds('a')).unwrap();
    b.end_of_remote_candidates();
    let t0 = Instant::now();
    b.start(t0);
    run_alone(&mut b, t0, Duration::ZERO, Duration::from_secs(5));
    assert_ne!(b.state(), State::Failed);
}

#[test]
fn vanished_peer_loses_consent_within_30_seconds() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    let connected_at = p.now;
    // B vanishes: nothing it sends arrives any more, and nothing reaches it.
    p.drop = Box::new(|_, _, _| true);
    p.run(Duration::from_secs(60), |p| p.a.state() == State::Failed);
    assert_eq!(p.a.state(), State::Failed);
    let lost_after = p.now - connected_at;
    assert!(lost_after <= Duration::from_secs(31), "{lost_after:?}");
    assert!(
        p.a_events
            .contains(&Event::StateChanged(State::Disconnected))
    );
    assert!(
        p.a.send_path(1).is_err(),
        "sending stops once consent is lost"
    );
}

#[test]
fn consent_keeps_a_quiet_connection_alive_for_minutes() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    p.run(Duration::from_secs(300), |p| !p.connected());
    assert!(p.connected());
}

#[test]
fn application_data_is_borrowed_and_accepted_only_from_the_pair() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    let path = p.a.send_path(1).unwrap();
    let payload = b"hello from a";
    match p
        .b
        .handle_receive(p.now, path.from, path.to, payload)
        .unwrap()
    {
        Received::Data { component, data } => {
            assert_eq!(component, 1);
            assert!(std::ptr::eq(data, payload.as_slice()));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        p.b.handle_receive(p.now, addr("203.0.113.1:1"), path.to, payload)
            .is_err()
    );
}

#[test]
fn a_check_on_an_address_that_is_no_base_is_dropped_unanswered() {
    let mut p = Pair::hosts();
    p.a.handle_timeout(p.now);
    let mut check = Vec::new();
    let t = p.a.poll_transmit(&mut check).expect("A's first check");
    assert_eq!(t.to, addr("192.0.2.2:6000"));
    let dropped = p.b.stats().stun_dropped;
    // The same, valid check handed over as if it had arrived on a socket B never announced.
    assert_eq!(
        p.b.handle_receive(p.now, t.from, addr("192.0.2.2:7000"), &check),
        Err(icebreaker_ice::RecvError::UnknownLocal)
    );
    let mut out = Vec::new();
    assert!(
        p.b.poll_transmit(&mut out).is_none(),
        "answered from nowhere"
    );
    assert_eq!(p.b.stats().stun_dropped, dropped + 1);
    // On its base it is answered, from that base.
    assert_eq!(
        p.b.handle_receive(p.now, t.from, t.to, &check),
        Ok(Received::Stun)
    );
    let mut answered = false;
    while let Some(sent) = p.b.poll_transmit(&mut out) {
        // A Binding success response (0x0101), not B's own triggered check.
        if out.get(..2) == Some(&[0x01, 0x01][..]) {
            assert_eq!((sent.from, sent.to), (t.to, t.from));
            answered = true;
        }
    }
    assert!(answered, "no answer on the base");
}

#[test]
fn unauthenticated_checks_create_no_state() {
    let mut p = Pair::hosts();
    let (remotes, pairs) = (p.b.remote_candidates().len(), p.b.pair_count());
    // Checks signed with the wrong password from 10 000 sources.
    let mut forger = Agent::new(controlling(), creds('a'));
    forger
        .set_remote_credentials(Credentials {
            ufrag: "bbbb".into(),
            pwd: "wrongwrongwrongwrong12".into(),
        })
        .unwrap();
    forger
        .add_host_candidate(addr("198.51.100.1:1000"), 1)
        .unwrap();
    forger
        .add_remote_candidate(p.b.local_candidates().next().unwrap().clone())
        .unwrap();
    forger.start(p.now);
    forger.handle_timeout(p.now);
    let mut buf = Vec::new();
    let t = forger.poll_transmit(&mut buf).unwrap();
    for i in 0..10_000u32 {
        let from = SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 4000);
        assert!(p.b.handle_receive(p.now, from, t.to, &buf).is_err());
        let mut out = Vec::new();
        while p.b.poll_transmit(&mut out).is_some() {}
    }
    assert_eq!(
        (p.b.remote_candidates().len(), p.b.pair_count()),
        (remotes, pairs)
    );
    assert!(p.b.stats().stun_dropped >= 10_000);
}

#[test]
fn remote_candidate_flood_is_bounded() {
    let mut a = Agent::new(controlling(), creds('a'));
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    let mut refused = 0;
    for i in 0..10_000u32 {
        let line = format!(
            "candidate:{i} 1 udp {} 198.51.{}.{} {} typ host",
            1000 + i,
            i / 250,
            i % 250,
            1024 + i % 60000
        );
        if a.add_remote_candidate(Candidate::parse(&line).unwrap())
            .is_err()
        {
            refused += 1;
        }
    }
    assert!(a.remote_candidates().len() <= 64);
    assert!(a.pair_count() <= 100);
    assert!(refused >= 10_000 - 64);
}

/// A host candidate nothing answers on, `198.51.100.n:7000`, with its own foundation and a
/// priority above any real candidate's.
fn dead_host(n: u8) -> Candidate {
    let address = addr(&format!("198.51.100.{n}:7000"));
    Candidate::new(CandidateKind::Host, address, 65535, 1, format!("dead{n}"))
}

/// RFC 8445 §7.3.1.4: the pair a peer's check arrived on is created and checked, even in a full
/// check list. Here B's list is full of Waiting pairs to dead addresses that all rank above the
/// peer-reflexive pair A's check makes; one of them must give way.
#[test]
fn a_full_check_list_makes_room_for_a_triggered_check() {
    let few = AgentConfig {
        max_pairs: 4,
        ..controlled()
    };
    let (mut a, mut b) = agents(controlling(), few, &["192.0.2.1:5000"], &["192.0.2.2:6000"]);
    let b_host = b.local_candidates().next().unwrap().clone();
    a.add_remote_candidate(b_host).unwrap();
    for n in 1..=4 {
        b.add_remote_candidate(dead_host(n)).unwrap();
    }
    assert_eq!(b.pair_count(), 4);
    let mut p = Pair::start(a, b, fixed_delay(10));
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected(), "A {:?}, B {:?}", p.a.state(), p.b.state());
    assert_eq!(
        selected(&p.b_events),
        Some((addr("192.0.2.2:6000"), addr("192.0.2.1:5000")))
    );
    assert_eq!(p.b.pair_count(), 4);
}

/// RFC 8445 §6.1.2.5 keeps the best pairs, and a Failed pair is no longer one of them: a
/// candidate trickled after the first ones failed is paired even though it ranks below them.
#[test]
fn a_failed_pair_gives_way_to_a_late_candidate() {
    let few = AgentConfig {
        max_pairs: 2,
        ..controlling()
    };
    let (mut a, mut b) = agents(few, controlled(), &["192.0.2.1:5000"], &["192.0.2.2:6000"]);
    let a_host = a.local_candidates().next().unwrap().clone();
    b.add_remote_candidate(a_host).unwrap();
    a.add_remote_candidate(dead_host(1)).unwrap();
    a.add_remote_candidate(dead_host(2)).unwrap();
    let mut p = Pair::start(a, b, fixed_delay(10));
    // Both checks to the dead addresses time out (17.75 s); B's checks reach A meanwhile, but
    // A does not know B's address yet, so they arrive from a peer-reflexive candidate. Drop
    // them for now: this test is about the trickled candidate.
    p.drop = Box::new(|from, _, _| from == addr("192.0.2.2:6000"));
    p.run(Duration::from_secs(20), |_| false);
    assert!(!p.connected());
    let mut late = p.b.local_candidates().next().unwrap().clone();
    late.priority = 1;
    p.a.add_remote_candidate(late).unwrap();
    assert_eq!(p.a.pair_count(), 2);
    p.drop = Box::new(|_, _, _| false);
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected(), "A {:?}, B {:?}", p.a.state(), p.b.state());
    assert_eq!(
        selected(&p.a_events),
        Some((addr("192.0.2.1:5000"), addr("192.0.2.2:6000")))
    );
}

/// RFC 8445 §14.3: with many pairs to check, the RTO stretches to Ta × (Waiting + In-Progress),
/// so every pair gets its first check before any is sent again, and the checks keep to one per
/// Ta however many pairs there are.
#[test]
fn many_checks_keep_to_one_per_ta() {
    let mut a = Agent::new(controlling(), creds('a'));
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    a.set_remote_credentials(creds('b')).unwrap();
    for n in 1..=20 {
        a.add_remote_candidate(dead_host(n)).unwrap();
    }
    let sends = sent_alone(&mut a, Duration::from_secs(5));
    let first_retransmission = sends
        .iter()
        .enumerate()
        .find(|(i, (_, _, to))| sends[..*i].iter().any(|(_, _, earlier)| earlier == to))
        .map(|(i, _)| i)
        .expect("nothing was sent again in 5 s");
    let firsts: std::collections::BTreeSet<_> =
        sends[..first_retransmission].iter().map(|s| s.2).collect();
    assert_eq!(
        firsts.len(),
        20,
        "sent again before every pair was checked once"
    );
    let ta = AgentConfig::default().ta;
    assert!(
        sends.len() as u32 <= 5 * 1000 / ta.as_millis() as u32,
        "{} checks in 5 s",
        sends.len()
    );
}

/// RFC 8839 §5.5: when the peer asks for slower pacing than ours, new checks leave at its
/// pace; a faster one changes nothing.
#[test]
fn checks_are_paced_at_the_larger_of_both_agents_values() {
    let first_checks = |remote: Duration| {
        let mut a = Agent::new(controlling(), creds('a'));
        a.set_remote_pacing(remote);
        a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
        a.set_remote_credentials(creds('b')).unwrap();
        for n in 1..=5 {
            a.add_remote_candidate(dead_host(n)).unwrap();
        }
        let sends = sent_alone(&mut a, Duration::from_secs(6));
        sends.iter().take(5).map(|s| s.0).collect::<Vec<_>>()
    };
    let gaps = |times: Vec<Duration>| times.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
    let ours = AgentConfig::default().ta;
    assert_eq!(
        gaps(first_checks(Duration::from_millis(200))),
        [Duration::from_millis(200); 4]
    );
    assert_eq!(gaps(first_checks(Duration::from_millis(5))), [ours; 4]);
    // A peer cannot stall the checks: days between checks are taken as a second.
    assert_eq!(
        gaps(first_checks(Duration::from_secs(4_294_967))),
        [icebreaker_ice::MAX_REMOTE_PACING; 4]
    );
}

/// One server for STUN and TURN over UDP (`--stun X --turn X`): the Binding request and the
/// Allocate leave the same socket for the same address, and the Binding answer must reach the
/// gathering, not be taken by the TURN client as a stray answer of its own.
#[test]
fn a_server_for_both_stun_and_turn_yields_a_reflexive_candidate() {
    use icebreaker_stun::attributes::XorMappedAddress;
    use icebreaker_stun::{Class, Message, MessageWriter, Method};
    let server = addr("203.0.113.1:3478");
    let config = AgentConfig {
        stun_servers: vec![server],
        turn_servers: vec![TurnServer {
            server,
            transport: TurnTransport::Udp,
            username: "user".into(),
            password: "pass".into(),
        }],
        ..controlling()
    };
    let host = addr("192.0.2.1:5000");
    let mapped = addr("198.51.100.7:40000");
    let mut a = Agent::new(config, creds('a'));
    a.add_host_candidate(host, 1).unwrap();
    let t0 = Instant::now();
    a.start(t0);
    let mut buf = Vec::new();
    let mut answered = false;
    let mut now = t0;
    while now - t0 < Duration::from_millis(200) {
        a.handle_timeout(now);
        while let Some(t) = a.poll_transmit(&mut buf) {
            let request = Message::parse(&buf).unwrap();
            if t.to != server || request.method() != Method::BINDING || answered {
                continue;
            }
            let mut answer = vec![0u8; 64];
            let tid = request.transaction_id();
            let mut w =
                MessageWriter::new(&mut answer, Class::Success, Method::BINDING, tid).unwrap();
            w.push(&XorMappedAddress(mapped)).unwrap();
            let n = w.finish(true).unwrap();
            a.handle_receive(now, server, host, &answer[..n]).unwrap();
            answered = true;
        }
        now += Duration::from_millis(10);
    }
    assert!(answered);
    let srflx: Vec<_> = a
        .local_candidates()
        .filter(|c| c.kind == CandidateKind::ServerReflexive)
        .map(|c| c.address)
        .collect();
    assert_eq!(srflx, [mapped]);
}

/// RFC 8445 §14: gathering transactions are paced at Ta too. Three STUN servers are asked one
/// after the other, 50 ms apart, and gathering completes only once all three have answered.
#[test]
fn gathering_requests_leave_one_per_ta() {
    use icebreaker_stun::attributes::XorMappedAddress;
    use icebreaker_stun::{Class, Message, MessageWriter, Method};
    let servers: Vec<SocketAddr> = (1..=3)
        .map(|n| addr(&format!("203.0.113.{n}:3478")))
        .collect();
    let config = AgentConfig {
        stun_servers: servers.clone(),
        ..controlling()
    };
    let host = addr("192.0.2.1:5000");
    let mut a = Agent::new(config, creds('a'));
    a.add_host_candidate(host, 1).unwrap();
    let t0 = Instant::now();
    a.start(t0);
    let (mut now, mut buf) = (t0, Vec::new());
    let mut asked = Vec::new();
    let mut answers: Vec<(Instant, SocketAddr, Vec<u8>)> = Vec::new();
    let mut complete = None;
    while now - t0 < Duration::from_secs(2) && complete.is_none() {
        a.handle_timeout(now);
        while let Some(t) = a.poll_transmit(&mut buf) {
            let request = Message::parse(&buf).unwrap();
            if asked.iter().all(|(_, to)| *to != t.to) {
                asked.push((now - t0, t.to));
            }
            // Each server maps the host to its own port, 10 ms later.
            let port = 40_000 + asked.iter().position(|(_, to)| *to == t.to).unwrap() as u16;
            let mut answer = vec![0u8; 64];
            let tid = request.transaction_id();
            let mut w =
                MessageWriter::new(&mut answer, Class::Success, Method::BINDING, tid).unwrap();
            w.push(&XorMappedAddress(addr(&format!("198.51.100.7:{port}"))))
                .unwrap();
            let n = w.finish(true).unwrap();
            answer.truncate(n);
            answers.push((now + Duration::from_millis(10), t.to, answer));
        }
        while let Some(e) = a.poll_event() {
            if e == Event::GatheringComplete {
                complete = Some(now - t0);
            }
        }
        let due: Vec<_> = answers.iter().filter(|x| x.0 <= now).cloned().collect();
        answers.retain(|x| x.0 > now);
        for (_, from, bytes) in due {
            a.handle_receive(now, from, host, &bytes).unwrap();
        }
        now = [a.poll_timeout(), answers.iter().map(|x| x.0).min()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_millis(100))
            .max(now + Duration::from_micros(1));
    }
    let ms: Vec<u128> = asked.iter().map(|(at, _)| at.as_millis()).collect();
    assert_eq!(ms, [0, 50, 100]);
    assert_eq!(
        asked.iter().map(|x| x.1).collect::<Vec<_>>(),
        servers,
        "the servers were asked in their order"
    );
    // The last answer arrives at 110 ms; the event is read on the loop's next turn.
    assert_eq!(complete.map(|at| at.as_millis()), Some(110));
    let reflexive = a
        .local_candidates()
        .filter(|c| c.kind == CandidateKind::ServerReflexive)
        .count();
    assert_eq!(reflexive, 3);
}

/// Gathering asks every STUN server from every host before it allocates on any TURN server:
/// Binding requests are cheap, and server-reflexive candidates find the direct paths.
#[test]
fn binding_requests_go_before_allocations() {
    let (stun, turn) = (addr("203.0.113.1:3478"), addr("203.0.113.9:3478"));
    let config = AgentConfig {
        stun_servers: vec![stun],
        turn_servers: vec![TurnServer {
            server: turn,
            transport: TurnTransport::Udp,
            username: "user".into(),
            password: "pass".into(),
        }],
        ..controlling()
    };
    let (h1, h2) = (addr("192.0.2.1:5000"), addr("192.0.2.2:5000"));
    let mut a = Agent::new(config, creds('a'));
    a.add_host_candidate(h1, 1).unwrap();
    a.add_host_candidate(h2, 1).unwrap();
    let sent: Vec<_> = sent_alone(&mut a, Duration::from_millis(200))
        .into_iter()
        .map(|(at, from, to)| (at.as_millis(), from, to))
        .collect();
    assert_eq!(
        sent,
        [
            (0, h1, stun),
            (50, h2, stun),
            (100, h1, turn),
            (150, h2, turn)
        ]
    );
}

#[test]
fn mdns_candidates_wait_for_resolution() {
    let mut a = Agent::new(controlling(), creds('a'));
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    let c = Candidate::parse(
        "candidate:1 1 udp 2122260223 5a2a6f4c-7b4e-4d7b-9f21-1a2b3c4d5e6f.local 6000 typ host",
    )
    .unwrap();
    a.add_remote_candidate(c).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(events.contains(&Event::ResolveMdns(
        "5a2a6f4c-7b4e-4d7b-9f21-1a2b3c4d5e6f.local".into()
    )));
    assert_eq!(a.remote_candidates().len(), 0);
    a.resolve_mdns(
        "5a2a6f4c-7b4e-4d7b-9f21-1a2b3c4d5e6f.local",
        Some("192.0.2.2".parse().unwrap()),
    );
    assert_eq!(a.remote_candidates()[0].address, addr("192.0.2.2:6000"));
    assert_eq!(a.pair_count(), 1);
    // An unresolvable name is dropped.
    let c = Candidate::parse("candidate:2 1 udp 1 nope.local 7000 typ host").unwrap();
    a.add_remote_candidate(c).unwrap();
    a.resolve_mdns("nope.local", None);
    assert_eq!(a.remote_candidates().len(), 1);
}

#[test]
fn a_check_from_the_peer_retriggers_a_check_in_flight() {
    // RFC 8445 §7.3.1.4: when the peer's check arrives on a pair whose own check is in flight,
    // that check is cancelled and a new one sent at once. Here B's first answer is lost: A must
    // not wait for its retransmission timer (250 ms) once B's check has come through.
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut p = Pair::hosts();
    let a_requests: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let b_answers_lost = Rc::new(std::cell::Cell::new(0));
    let (requests, lost) = (a_requests.clone(), b_answers_lost.clone());
    p.drop = Box::new(move |from, _, bytes| {
        let kind = bytes.get(..2);
        if from == addr("192.0.2.1:5000") && kind == Some(&[0x00, 0x01]) {
            // Binding request from A: remember its transaction ID.
            let tid = bytes[8..20].to_vec();
            if !requests.borrow().contains(&tid) {
                requests.borrow_mut().push(tid);
            }
        }
        if from == addr("192.0.2.2:6000") && kind == Some(&[0x01, 0x01]) && lost.get() == 0 {
            lost.set(1);
            return true;
        }
        false
    });
    p.run(Duration::from_millis(100), |_| false);
    assert_eq!(b_answers_lost.get(), 1);
    assert!(
        a_requests.borrow().len() >= 2,
        "A sent {} check transaction(s) in 100 ms",
        a_requests.borrow().len()
    );
    p.run(Duration::from_secs(5), Pair::connected);
    assert!(p.connected());
}

/// RFC 8445 §7.3.1.4: a cancelled check's answer is awaited for its whole transaction timeout.
/// A's first check is cancelled by B's check, and the triggered check that replaced it is
/// cancelled in turn by B's retransmission; B's answer to the first check then arrives, and
/// must still make the pair valid (A, controlling, goes on to nominate it).
#[test]
fn every_cancelled_check_is_still_awaited() {
    use icebreaker_stun::{Message, attributes::USE_CANDIDATE};
    let (a_host, b_host) = (addr("192.0.2.1:5000"), addr("192.0.2.2:6000"));
    let (mut a, mut b) = agents(
        controlling(),
        controlled(),
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
    );
    exchange_candidates(&mut a, &mut b);
    let mut now = Instant::now();
    let tid = |bytes: &[u8]| bytes[8..20].to_vec();
    let is_request = |bytes: &[u8]| bytes[..2] == [0x00, 0x01];
    // What an agent sends until `limit` passes, its timers run every millisecond.
    let sent_until = |a: &mut Agent, now: &mut Instant, limit: Duration| {
        let (mut out, end) = (Vec::new(), *now + limit);
        let mut buf = Vec::new();
        while *now < end {
            a.handle_timeout(*now);
            while a.poll_transmit(&mut buf).is_some() {
                out.push(buf.clone());
            }
            *now += Duration::from_millis(1);
        }
        out
    };
    let requests_until = |a: &mut Agent, now: &mut Instant, limit: Duration| {
        let mut sent = sent_until(a, now, limit);
        sent.retain(|d| is_request(d));
        sent
    };
    a.start(now);
    let first = requests_until(&mut a, &mut now, Duration::from_millis(1));
    assert_eq!(first.len(), 1, "A's first check");
    let first = first[0].clone();
    // B answers it (the answer is held back) and sends its own check.
    b.start(now);
    b.handle_receive(now, a_host, b_host, &first).unwrap();
    let (mut answer, mut b_check) = (None, None);
    for d in sent_until(&mut b, &mut now, Duration::from_millis(100)) {
        if is_request(&d) {
            b_check.get_or_insert(d);
        } else if tid(&d) == tid(&first) {
            answer = Some(d);
        }
    }
    let (answer, b_check) = (answer.expect("B's answer"), b_check.expect("B's check"));
    // B's check cancels A's first; A sends a triggered check.
    a.handle_receive(now, b_host, a_host, &b_check).unwrap();
    let triggered = requests_until(&mut a, &mut now, Duration::from_millis(100));
    assert!(
        triggered.iter().any(|r| tid(r) != tid(&first)),
        "A sent a triggered check"
    );
    // B's retransmission (the same request) cancels that one too.
    a.handle_receive(now, b_host, a_host, &b_check).unwrap();
    // The answer to the first check still counts.
    assert_eq!(
        a.handle_receive(now, b_host, a_host, &answer),
        Ok(Received::Stun)
    );
    let later = requests_until(&mut a, &mut now, Duration::from_millis(200));
    assert!(
        later
            .iter()
            .any(|r| Message::parse(r).unwrap().has(USE_CANDIDATE)),
        "A nominates the pair the first check made valid"
    );
}

#[test]
fn connects_under_30_percent_loss() {
    for seed in 0..20u64 {
        let mut p = Pair::hosts();
        let state = std::cell::Cell::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        p.drop = Box::new(move |_, _, _| {
            // xorshift: 30 % loss each way, deterministic per seed.
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x % 100 < 30
        });
        p.run(Duration::from_secs(30), Pair::connected);
        assert!(
            p.connected(),
            "seed {seed}: {:?} {:?}",
            p.a.state(),
            p.b.state()
        );
        assert_eq!(
            selected(&p.a_events).map(|(l, r)| (r, l)),
            selected(&p.b_events),
            "seed {seed}"
        );
    }
}

/// STUN requests and responses a tap saw going from A to B and from B to A.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Wire {
    a_requests: u64,
    a_responses: u64,
    b_requests: u64,
    b_responses: u64,
    /// A's first request was dropped.
    lost: bool,
}

/// Counts the Binding requests and responses that cross between A (192.0.2.1) and B, and
/// drops A's first request when `lose_first` is set.
fn tap(p: &mut Pair, lose_first: bool) -> std::rc::Rc<std::cell::Cell<Wire>> {
    use icebreaker_stun::{Class, Message};
    let wire = std::rc::Rc::new(std::cell::Cell::new(Wire::default()));
    let seen = wire.clone();
    let a_ip = addr("192.0.2.1:5000").ip();
    p.drop = Box::new(move |from, _, bytes| {
        let Ok(m) = Message::parse(bytes) else {
            return false;
        };
        let mut w = seen.get();
        let from_a = from.ip() == a_ip;
        let request = m.class() == Class::Request;
        if lose_first && from_a && request && !w.lost {
            w.lost = true;
            seen.set(w);
            return true;
        }
        match (from_a, request) {
            (true, true) => w.a_requests += 1,
            (true, false) => w.a_responses += 1,
            (false, true) => w.b_requests += 1,
            (false, false) => w.b_responses += 1,
        }
        seen.set(w);
        false
    });
    wire
}

/// Each side's one pair counts exactly what the tap saw cross the wire: checks, answers,
/// consent checks, round-trip times (a fixed 25 ms each way: 50 ms) and application data.
#[test]
fn pair_stats_count_what_crossed_the_wire() {
    let mut p = Pair::new(
        controlling(),
        controlled(),
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
        true,
    );
    p.delay = fixed_delay(25);
    let wire = tap(&mut p, false);
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    // Let what is in flight land, then compare.
    p.run(Duration::from_secs(1), |p| p.in_flight.is_empty());
    let check = |p: &Pair, w: Wire| {
        let [a] = p.a.pairs().collect::<Vec<_>>()[..] else {
            panic!("A has one pair");
        };
        let [b] = p.b.pairs().collect::<Vec<_>>()[..] else {
            panic!("B has one pair");
        };
        for (s, l, r) in [
            (&a, "192.0.2.1:5000", "192.0.2.2:6000"),
            (&b, "192.0.2.2:6000", "192.0.2.1:5000"),
        ] {
            assert_eq!((s.local.address, s.remote.address), (addr(l), addr(r)));
            assert_eq!(s.state, icebreaker_ice::PairState::Succeeded);
            assert!(s.selected && s.nominated && s.valid_local.is_none());
        }
        let (ac, bc) = (a.counters, b.counters);
        assert_eq!(ac.retransmissions_sent + bc.retransmissions_sent, 0);
        assert_eq!(ac.requests_sent, w.a_requests);
        assert_eq!(bc.requests_received, w.a_requests);
        assert_eq!(bc.responses_sent, w.b_responses);
        assert_eq!(ac.responses_received, w.b_responses);
        assert_eq!(bc.requests_sent, w.b_requests);
        assert_eq!(ac.requests_received, w.b_requests);
        assert_eq!(ac.responses_sent, w.a_responses);
        assert_eq!(bc.responses_received, w.a_responses);
        for c in [ac, bc] {
            assert_eq!(c.current_round_trip_time, Some(Duration::from_millis(50)));
            assert_eq!(c.round_trip_time_measurements, c.responses_received);
            let n = u32::try_from(c.round_trip_time_measurements).unwrap();
            assert_eq!(c.total_round_trip_time, Duration::from_millis(50) * n);
            assert_eq!(c.last_response_received.is_some(), c.responses_received > 0);
        }
        (ac, bc)
    };
    let (a1, b1) = check(&p, wire.get());
    assert_eq!(a1.consent_requests_sent + b1.consent_requests_sent, 0);
    // A minute of consent checks (RFC 7675: every 4-6 s) on the selected pair.
    p.run(Duration::from_secs(60), |_| false);
    p.run(Duration::from_secs(1), |p| p.in_flight.is_empty());
    let (a2, b2) = check(&p, wire.get());
    for (before, after) in [(a1, a2), (b1, b2)] {
        let consent = after.consent_requests_sent;
        assert!(
            (10..=15).contains(&consent),
            "{consent} consent checks in 60 s"
        );
        assert_eq!(after.requests_sent, before.requests_sent + consent);
    }
    // Application data: payload bytes, on the pair that carried them.
    let mut buf = Vec::new();
    for payload in [&b"hello"[..], b"icebreaker"] {
        let t = p.a.send(1, payload, &mut buf).unwrap().expect("a datagram");
        assert!(matches!(
            p.b.handle_receive(p.now, t.from, t.to, &buf),
            Ok(Received::Data { .. })
        ));
    }
    let (a3, b3) = check(&p, wire.get());
    assert_eq!((a3.packets_sent, a3.bytes_sent), (2, 15));
    assert_eq!((b3.packets_received, b3.bytes_received), (2, 15));
    assert_eq!((a3.packets_received, b3.packets_sent), (0, 0));
}

/// A lost check is retransmitted, and the retransmission counts apart from the requests. (Only
/// A knows the other's candidate, so no check of B's replaces the lost one.)
#[test]
fn pair_stats_count_retransmissions_apart() {
    let (mut a, b) = agents(
        controlling(),
        controlled(),
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
    );
    a.add_remote_candidate(b.local_candidates().next().unwrap().clone())
        .unwrap();
    let mut p = Pair::start(a, b, fixed_delay(10));
    let wire = tap(&mut p, true);
    p.run(Duration::from_secs(10), Pair::connected);
    p.run(Duration::from_secs(1), |p| p.in_flight.is_empty());
    let a = p.a.pairs().next().unwrap().counters;
    let b = p.b.pairs().next().unwrap().counters;
    assert_eq!(a.retransmissions_sent, 1);
    // The tap saw the retransmission arrive, not the lost request.
    assert_eq!(
        a.requests_sent + a.retransmissions_sent,
        wire.get().a_requests + 1
    );
    assert_eq!(b.requests_received, wire.get().a_requests);
}

#[test]
fn restart_keeps_data_flowing_until_the_new_pair_is_selected() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    let old = p.a.send_path(1).unwrap();
    p.restart();
    // During the restart the old pair still carries data.
    assert_eq!(p.a.send_path(1).unwrap(), old);
    assert!(matches!(
        p.b.handle_receive(p.now, old.from, old.to, b"x"),
        Ok(Received::Data { .. })
    ));
    p.signal_restart();
    p.a_events.clear();
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert!(
        selected(&p.a_events).is_some(),
        "a new pair was selected after the restart"
    );
}

/// RFC 7675 §5.1: after a restart the old pair carries data only as long as the consent it had:
/// nothing refreshes it (the peers' new credentials replaced the ones its checks used), so once
/// that consent is 30 s old, sending and receiving on it stop.
#[test]
fn the_old_pair_stops_when_its_consent_runs_out_during_a_restart() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    let old = p.a.send_path(1).unwrap();
    // B's answers stop reaching A for 12 s: A's consent was last granted at most a consent
    // interval (5 s, jittered up to 6 s) before they stopped, so it runs out between 12 s and
    // 18 s after the restart, not 30 s after it.
    let b_host = addr("192.0.2.2:6000");
    p.drop = Box::new(move |from, _, _| from == b_host);
    p.run(Duration::from_secs(12), |_| false);
    p.drop = Box::new(|_, _, _| false);
    p.restart();
    p.run(Duration::from_millis(11_900), |_| false);
    assert_eq!(p.a.send_path(1).unwrap(), old, "within the consent it had");
    p.run(Duration::from_millis(6_600), |_| false);
    assert!(matches!(p.a.send_path(1), Err(Error::NotConnected)));
    let mut buf = Vec::new();
    assert!(p.a.send(1, b"x", &mut buf).is_err());
    assert!(
        p.a.handle_receive(p.now, old.to, old.from, b"x").is_err(),
        "data on the old pair is no longer taken"
    );
}

/// A restart that fails ends the old pair at once, however much consent it had left.
#[test]
fn a_failed_restart_stops_the_old_pair() {
    let long_consent = |c: AgentConfig| AgentConfig {
        consent_timeout: Duration::from_secs(600),
        ..c
    };
    let mut p = Pair::new(
        long_consent(controlling()),
        long_consent(controlled()),
        &["192.0.2.1:5000"],
        &["192.0.2.2:6000"],
        true,
    );
    p.run(Duration::from_secs(10), Pair::connected);
    let old = p.a.send_path(1).unwrap();
    p.restart();
    p.signal_restart();
    p.a.end_of_remote_candidates();
    // Every new check is lost.
    let started = p.now;
    p.drop = Box::new(|_, _, _| true);
    p.run(Duration::from_secs(120), |p| p.a.state() == State::Failed);
    assert_eq!(p.a.state(), State::Failed);
    assert!(p.now - started < Duration::from_secs(120));
    assert_ne!(p.a.send_path(1).ok(), Some(old));
    assert!(matches!(p.a.send_path(1), Err(Error::NotConnected)));
}

/// Regular nomination costs one more check, paced by Ta like every other. Both agents start at
/// once (as when an answerer starts checking as soon as it answers). A's first check is in
/// flight when B's arrives, which cancels it and queues a triggered check (RFC 8445 §7.3.1.4);
/// the first check's answer still makes the pair valid. With a round trip just under Ta the
/// answer beats the 50 ms slot and the USE-CANDIDATE check takes it: A is connected after 2
/// round trips. Just over Ta, the triggered check takes that slot and the nomination the next
/// one: 3 (what `cargo xtask bench --peers ice` shows against aioice at 50 ms).
#[test]
fn nomination_takes_the_first_ta_slot_after_the_pair_is_valid() {
    for (one_way_us, at_most_ms) in [(24_500, 100), (25_500, 152)] {
        let mut p = Pair::hosts();
        p.delay = Box::new(move |_, _| Duration::from_micros(one_way_us));
        let took = p.run(Duration::from_secs(10), |p| p.a.state() == State::Connected);
        assert_eq!(p.a.state(), State::Connected);
        assert!(
            took <= Duration::from_millis(at_most_ms),
            "one way {one_way_us} µs: took {took:?}"
        );
    }
}

/// A TURN server reached over TCP: its Allocate leaves through `poll_stream_transmit`, never as a
/// datagram, and its answer is taken only from the stream (the same bytes arriving by UDP from
/// that address are not the TURN client's).
#[test]
fn a_stream_turn_server_is_talked_to_through_the_stream_calls_only() {
    use icebreaker_ice::RecvError;
    let server = addr("198.51.100.1:3478");
    let base = addr("192.0.2.1:5000");
    let mut a = Agent::new(
        AgentConfig {
            turn_servers: vec![TurnServer {
                server,
                transport: TurnTransport::Tcp,
                username: "alice".into(),
                password: "secret".into(),
            }],
            ..controlling()
        },
        creds('a'),
    );
    a.add_host_candidate(base, 1).unwrap();
    let now = Instant::now();
    a.start(now);
    let mut buf = Vec::new();
    while let Some(t) = a.poll_transmit(&mut buf) {
        assert_ne!(t.to, server, "a datagram to the stream TURN server");
    }
    let t = a
        .poll_stream_transmit(&mut buf)
        .expect("the Allocate request");
    assert_eq!((t.from, t.to), (base, server));
    // STUN Binding request, Allocate (0x0003).
    assert_eq!(&buf[..2], &[0x00, 0x03]);
    assert!(a.poll_stream_transmit(&mut buf).is_none());
    // A 401 to that Allocate, as the server would answer: the same transaction id.
    let mut answer = vec![0x01, 0x13, 0x00, 0x00];
    answer.extend_from_slice(&buf[4..20]);
    assert_eq!(
        a.handle_stream_receive(now, addr("198.51.100.9:3478"), base, &answer),
        Err(RecvError::UnknownSource),
        "a stream from another server"
    );
    assert!(
        !matches!(
            a.handle_receive(now, server, base, &answer),
            Ok(Received::Stun)
        ),
        "the answer by UDP went to the TURN client"
    );
    assert_eq!(
        a.handle_stream_receive(now, server, base, &answer),
        Ok(Received::Stun),
        "the answer on the stream"
    );
}

/// RFC 7675 §5.1: after consent is lost the credentials are never used on the pair again, and
/// RFC 8445 §8.1.1 allows one nomination per component. When the path comes back, the agent
/// that lost consent stays Failed: it neither nominates again nor answers checks, so its peer
/// loses consent too. An ICE restart then connects them again.
#[test]
fn consent_loss_is_final_until_an_ice_restart() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    // B's answers no longer reach A, so A's consent checks go unanswered; B's own checks
    // still get through, and A answers them while it has consent.
    let b_host = addr("192.0.2.2:6000");
    p.drop = Box::new(move |from, _, bytes| from == b_host && bytes.get(..2) == Some(&[1, 1]));
    p.run(Duration::from_secs(40), |p| p.a.state() == State::Failed);
    assert_eq!(p.a.state(), State::Failed);
    assert_eq!(p.b.state(), State::Connected);
    // The path is back. Within B's own consent timeout A must not come back to life.
    p.drop = Box::new(|_, _, _| false);
    p.a_events.clear();
    let dropped = p.a.stats().stun_dropped;
    p.run(Duration::from_secs(40), |p| p.b.state() == State::Failed);
    assert_eq!(p.a.state(), State::Failed, "A came back: {:?}", p.a_events);
    assert!(selected(&p.a_events).is_none(), "A nominated again");
    assert!(p.a.send_path(1).is_err());
    assert_eq!(p.b.state(), State::Failed, "A answered B's consent checks");
    assert!(
        p.a.stats().stun_dropped > dropped,
        "B's checks were not dropped"
    );
    let mut out = Vec::new();
    assert!(p.a.poll_transmit(&mut out).is_none(), "A still sends");
    // A restart on both sides, candidates signalled again: connected.
    p.restart();
    p.signal_restart();
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
}

/// RFC 7675 §5.1: consent is "a valid STUN binding response … from the remote peer's
/// transport address". Authenticated answers from another address keep nothing alive.
#[test]
fn consent_answers_from_another_address_do_not_count() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    let b_host = addr("192.0.2.2:6000");
    // What B sent towards A: (to, bytes).
    type Stash = Rc<RefCell<Vec<(SocketAddr, Vec<u8>)>>>;
    let stash: Stash = Rc::default();
    let keep = stash.clone();
    p.drop = Box::new(move |from, to, bytes| {
        if from == b_host {
            keep.borrow_mut().push((to, bytes.to_vec()));
        }
        from == b_host
    });
    let connected_at = p.now;
    let mut forwarded = 0;
    while p.now - connected_at < Duration::from_secs(40) && p.a.state() != State::Failed {
        p.run(Duration::from_millis(100), |_| false);
        // Everything B sends reaches A, but from an address B does not have.
        for (to, bytes) in stash.borrow_mut().drain(..) {
            let _ =
                p.a.handle_receive(p.now, addr("192.0.2.99:6000"), to, &bytes);
            forwarded += 1;
        }
    }
    assert!(forwarded > 5, "B answered only {forwarded} times");
    assert_eq!(p.a.state(), State::Failed);
    assert!(p.now - connected_at <= Duration::from_secs(31));
}

/// RFC 8445 §6.1.4.2: with no pair Waiting, a Frozen pair is checked only when no pair of
/// its foundation is Waiting or In-Progress.
#[test]
fn a_frozen_pair_waits_while_its_foundation_is_in_progress() {
    let mut a = Agent::new(controlling(), creds('a'));
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    a.set_remote_credentials(creds('b')).unwrap();
    for (port, pref) in [(6000, 65535), (6001, 65534)] {
        let c = Candidate::new(
            CandidateKind::Host,
            addr(&format!("192.0.2.9:{port}")),
            pref,
            1,
            "1".into(),
        );
        a.add_remote_candidate(c).unwrap();
    }
    a.end_of_remote_candidates();
    let first_to_6001 = sent_alone(&mut a, Duration::from_secs(60))
        .into_iter()
        .find(|&(_, _, to)| to == addr("192.0.2.9:6001"))
        .map(|(at, _, _)| at);
    // Nothing answers the check to :6000; only once it has timed out may :6001 go.
    let timeout = AgentConfig::default().check_transaction.total_timeout();
    let went = first_to_6001.expect("the frozen pair was never checked");
    assert!(went >= timeout, "checked at {went:?}, before {timeout:?}");
}

/// RFC 7675 §5.1 works per 5-tuple: with two components, each selected pair has consent of its
/// own, and losing it on component 2 alone fails the agent and stops sending there.
#[test]
fn each_component_has_consent_of_its_own() {
    let two = |c: AgentConfig| AgentConfig { components: 2, ..c };
    let mut a = Agent::new(two(controlling()), creds('a'));
    let mut b = Agent::new(two(controlled()), creds('b'));
    for (agent, ip) in [(&mut a, "192.0.2.1"), (&mut b, "192.0.2.2")] {
        agent
            .add_host_candidate(addr(&format!("{ip}:5000")), 1)
            .unwrap();
        agent
            .add_host_candidate(addr(&format!("{ip}:5001")), 2)
            .unwrap();
    }
    a.set_remote_credentials(creds('b')).unwrap();
    b.set_remote_credentials(creds('a')).unwrap();
    exchange_candidates(&mut a, &mut b);
    a.end_of_remote_candidates();
    b.end_of_remote_candidates();
    let mut p = Pair::start(a, b, fixed_delay(5));
    p.run(Duration::from_secs(10), Pair::connected);
    assert!(p.connected());
    assert!(p.a.send_path(2).is_ok());
    // Component 2's path dies; component 1's keeps working.
    p.drop = Box::new(|from, to, _| from.port() == 5001 || to.port() == 5001);
    let cut = p.now;
    p.run(Duration::from_secs(40), |p| p.a.state() == State::Failed);
    assert_eq!(p.a.state(), State::Failed);
    assert!(p.now - cut <= Duration::from_secs(31), "{:?}", p.now - cut);
    assert!(p.a.send_path(2).is_err(), "still sending on component 2");
}

/// RFC 8489 §6.3.3: a success response with an unknown comprehension-required attribute fails
/// its check. B's answers reach A rebuilt (properly signed) with or without such an attribute;
/// with it, A never connects and fails; without it, the same rebuilding connects.
#[test]
fn a_check_answered_with_an_unknown_required_attribute_fails() {
    use icebreaker_stun::attributes::XorMappedAddress;
    use icebreaker_stun::integrity::Key;
    use icebreaker_stun::{AttributeType, Class, Integrity, Message, MessageWriter, Method};
    use std::cell::RefCell;
    use std::rc::Rc;
    for unknown in [false, true] {
        let mut p = Pair::hosts();
        let b_host = addr("192.0.2.2:6000");
        type Stash = Rc<RefCell<Vec<(SocketAddr, Vec<u8>)>>>;
        let stash: Stash = Rc::default();
        let keep = stash.clone();
        // B's success responses are held back; everything else flows.
        p.drop = Box::new(move |from, to, bytes| {
            let success =
                from == b_host && Message::parse(bytes).is_ok_and(|m| m.class() == Class::Success);
            if success {
                keep.borrow_mut().push((to, bytes.to_vec()));
            }
            success
        });
        let key = Key::short_term(&creds('b').pwd).unwrap();
        let mut rebuilt = 0;
        while p.now - p.t0 < Duration::from_secs(45)
            && !p.connected()
            && p.a.state() != State::Failed
        {
            p.run(Duration::from_millis(20), |_| false);
            for (to, bytes) in stash.borrow_mut().drain(..) {
                let tid = Message::parse(&bytes).unwrap().transaction_id();
                let mut out = [0u8; 256];
                let mut w =
                    MessageWriter::new(&mut out, Class::Success, Method::BINDING, tid).unwrap();
                w.push(&XorMappedAddress(to)).unwrap();
                if unknown {
                    w.push_raw(AttributeType(0x7f00), &[0; 4]).unwrap();
                }
                let n = w
                    .finish_with_integrity(&key, Integrity::Sha1, true)
                    .unwrap();
                let _ = p.a.handle_receive(p.now, b_host, to, &out[..n]);
                rebuilt += 1;
            }
        }
        assert!(rebuilt > 0);
        if unknown {
            assert_eq!(p.a.state(), State::Failed, "after {rebuilt} answers");
        } else {
            assert!(p.connected(), "{:?} {:?}", p.a.state(), p.b.state());
        }
    }
}

/// RFC 8489 §6.3.1.1: an authenticated check with an unknown comprehension-required attribute
/// is answered with a signed 420 listing it (each once), and creates nothing; the same check
/// without it is answered with success.
#[test]
fn a_check_with_an_unknown_required_attribute_gets_a_420() {
    use icebreaker_stun::attributes::{ErrorCode, Priority, UnknownAttributes, Username};
    use icebreaker_stun::integrity::Key;
    use icebreaker_stun::{
        AttributeType, Class, Integrity, Message, MessageWriter, Method, TransactionId,
    };
    let (a_host, b_host) = (addr("192.0.2.1:5000"), addr("192.0.2.2:6000"));
    let (mut a, _) = agents(controlling(), controlled(), &["192.0.2.1:5000"], &[]);
    let now = Instant::now();
    a.start(now);
    let mut buf = Vec::new();
    while a.poll_transmit(&mut buf).is_some() {}
    let key = Key::short_term(&creds('a').pwd).unwrap();
    let check = |unknown: &[u16]| {
        let mut out = [0u8; 256];
        let tid = TransactionId::new([7; 12]);
        let mut w = MessageWriter::new(&mut out, Class::Request, Method::BINDING, tid).unwrap();
        w.push(&Username("aaaa:bbbb")).unwrap();
        w.push(&Priority(1_845_501_695)).unwrap();
        for &t in unknown {
            w.push_raw(AttributeType(t), &[0; 4]).unwrap();
        }
        let n = w
            .finish_with_integrity(&key, Integrity::Sha1, true)
            .unwrap();
        out[..n].to_vec()
    };
    let answer = |a: &mut Agent, request: &[u8]| {
        let _ = a.handle_receive(now, b_host, a_host, request);
        let mut buf = Vec::new();
        let t = a.poll_transmit(&mut buf).expect("an answer");
        assert_eq!((t.from, t.to), (a_host, b_host));
        buf
    };
    // CHANGE-REQUEST (0x0003) is a STUN attribute, but nothing a check acts on.
    let refused = answer(&mut a, &check(&[0x7f01, 0xc0ff, 0x0003, 0x7f01]));
    let msg = Message::parse(&refused).unwrap();
    assert_eq!(msg.class(), Class::Error);
    assert_eq!(msg.get::<ErrorCode<'_>>().unwrap().unwrap().code, 420);
    let listed: Vec<u16> = msg
        .get::<UnknownAttributes<'_>>()
        .unwrap()
        .unwrap()
        .iter()
        .map(|t| t.0)
        .collect();
    // Comprehension-optional 0xc0ff is not listed; 0x7f01 is listed once.
    assert_eq!(listed, [0x7f01, 0x0003]);
    assert!(msg.verify_integrity(&key).is_ok(), "a signed 420");
    assert_eq!(
        a.remote_candidates().len(),
        0,
        "no peer-reflexive candidate"
    );
    assert_eq!(a.pair_count(), 0);
    let accepted = answer(&mut a, &check(&[0xc0ff]));
    assert_eq!(Message::parse(&accepted).unwrap().class(), Class::Success);
    assert_eq!(a.pair_count(), 1);
}

/// An agent with one UDP TURN server (alice's), and that server, in process.
fn agent_with_turn_server(now: Instant) -> (Agent, icebreaker_turn::Server) {
    agent_with_turn_password(now, "secret")
}

/// [`agent_with_turn_server`], the agent using `password`.
fn agent_with_turn_password(now: Instant, password: &str) -> (Agent, icebreaker_turn::Server) {
    use icebreaker_turn::{PortPool, Server, ServerConfig};
    let server = addr("203.0.113.1:3478");
    let config = ServerConfig {
        realm: "example.org".into(),
        users: vec![("alice".into(), "secret".into())],
        own_addresses: vec![server.ip()],
        listen: vec![server],
        ..Default::default()
    };
    let pool = PortPool::new(Some(server.ip()), None, 49152..=65535, [7; 32]);
    let mut a = Agent::new(
        AgentConfig {
            turn_servers: vec![TurnServer {
                server,
                transport: TurnTransport::Udp,
                username: "alice".into(),
                password: password.into(),
            }],
            ..controlling()
        },
        creds('a'),
    );
    a.add_host_candidate(addr("192.0.2.1:5000"), 1).unwrap();
    a.start(now);
    (a, Server::new(config, pool, now))
}

/// Carries what the agent and the server send each other until neither has more (bounded).
fn exchange(a: &mut Agent, server: &mut icebreaker_turn::Server, now: Instant) {
    let mut buf = Vec::new();
    for _ in 0..16 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(&mut buf) {
            server.handle_receive(now, t.from, t.to, &buf);
            moved = true;
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            let _ = a.handle_receive(now, t.from, t.to, &buf);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

/// RFC 8656 §7.2: closing the agent deletes its allocation (a Refresh with LIFETIME 0), so the
/// server frees the relayed address at once; `releasing` says when that is confirmed.
#[test]
fn closing_deletes_the_turn_allocation() {
    let now = Instant::now();
    let (mut a, mut server) = agent_with_turn_server(now);
    a.handle_timeout(now);
    exchange(&mut a, &mut server, now);
    assert!(
        a.local_candidates()
            .any(|c| c.kind == CandidateKind::Relayed),
        "no relayed candidate"
    );
    assert_eq!(server.stats().allocations, 1);
    assert!(!a.releasing(), "releasing before the close");
    a.close(now);
    assert_eq!(a.state(), State::Closed);
    assert!(a.releasing());
    assert!(a.poll_timeout().is_some(), "no retransmission timer");
    exchange(&mut a, &mut server, now);
    assert_eq!(server.stats().allocations, 0);
    assert!(!a.releasing());
    assert_eq!(a.poll_timeout(), None);
}

/// An Allocate still in flight at the close is deleted as soon as it succeeds, and its relayed
/// address is not reported; a server that never answers the deletion is given up on after the
/// transaction timeout, so `releasing` turns false on its own.
#[test]
fn closing_while_allocating_deletes_the_allocation_when_made() {
    let now = Instant::now();
    let (mut a, mut server) = agent_with_turn_server(now);
    a.handle_timeout(now);
    let mut buf = Vec::new();
    let t = a.poll_transmit(&mut buf).expect("the first Allocate");
    server.handle_receive(now, t.from, t.to, &buf);
    a.close(now);
    assert!(a.releasing(), "the Allocate in flight is not waited for");
    while a.poll_event().is_some() {}
    // The 401, the signed Allocate and its success, the Refresh and its success.
    exchange(&mut a, &mut server, now);
    assert_eq!(server.stats().allocations, 0);
    assert!(!a.releasing());
    assert_eq!(a.local_candidates().count(), 1, "only the host candidate");
    assert_eq!(a.poll_event(), None);

    // The same, with the server gone silent after the allocation: the Refresh is retransmitted,
    // then given up on.
    let (mut a, mut server) = agent_with_turn_server(now);
    a.handle_timeout(now);
    exchange(&mut a, &mut server, now);
    a.close(now);
    let mut refreshes = 0;
    let mut at = now;
    while let Some(next) = a.poll_timeout() {
        assert!(
            next - now < Duration::from_secs(60),
            "still releasing at {next:?}"
        );
        while a.poll_transmit(&mut buf).is_some() {
            refreshes += 1;
        }
        at = next;
        a.handle_timeout(at);
    }
    assert!(!a.releasing());
    assert!(refreshes > 1, "{refreshes} Refresh sent");
    assert!(
        at - now >= Duration::from_secs(7),
        "given up after {:?}",
        at - now
    );
    assert_eq!(server.stats().allocations, 1);
}

/// A server that gives no candidate says so (a browser's `icecandidateerror`): a TURN server
/// refusing the password (401), a STUN server answering with an error, one never answering
/// (after its transaction timeout); gathering still completes.
#[test]
fn a_server_that_gives_no_candidate_is_reported() {
    use icebreaker_stun::attributes::ErrorCode;
    use icebreaker_stun::{Class, Message, MessageWriter};
    let now = Instant::now();
    let (mut a, mut server) = agent_with_turn_password(now, "wrong");
    a.handle_timeout(now);
    exchange(&mut a, &mut server, now);
    // Gathering completes on the timer the failure set.
    assert_eq!(a.poll_timeout(), Some(now));
    a.handle_timeout(now);
    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    let error = Event::CandidateError {
        server: addr("203.0.113.1:3478"),
        base: addr("192.0.2.1:5000"),
        relay: true,
        code: Some(401),
    };
    assert!(events.contains(&error), "{events:?}");
    assert!(events.contains(&Event::GatheringComplete), "{events:?}");
    assert_eq!(server.stats().allocations, 0);

    // Two STUN servers: the first answers 400, the second never.
    let (s1, s2) = (addr("203.0.113.1:3478"), addr("203.0.113.2:3478"));
    let host = addr("192.0.2.1:5000");
    let mut a = Agent::new(
        AgentConfig {
            stun_servers: vec![s1, s2],
            ..controlling()
        },
        creds('a'),
    );
    a.add_host_candidate(host, 1).unwrap();
    a.start(now);
    let mut buf = Vec::new();
    let mut at = now;
    let mut events = Vec::new();
    while at - now < Duration::from_secs(60) && !events.contains(&Event::GatheringComplete) {
        a.handle_timeout(at);
        while let Some(t) = a.poll_transmit(&mut buf) {
            if t.to != s1 {
                continue;
            }
            let request = Message::parse(&buf).unwrap();
            let mut answer = vec![0u8; 64];
            let mut w = MessageWriter::new(
                &mut answer,
                Class::Error,
                request.method(),
                request.transaction_id(),
            )
            .unwrap();
            w.push(&ErrorCode::bare(400)).unwrap();
            let n = w.finish(true).unwrap();
            a.handle_receive(at, s1, host, &answer[..n]).unwrap();
        }
        events.extend(std::iter::from_fn(|| a.poll_event()));
        at = a.poll_timeout().unwrap_or(at + Duration::from_secs(1));
    }
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::CandidateError { .. }))
        .collect();
    assert_eq!(
        errors,
        [
            &Event::CandidateError {
                server: s1,
                base: host,
                relay: false,
                code: Some(400)
            },
            &Event::CandidateError {
                server: s2,
                base: host,
                relay: false,
                code: None
            }
        ]
    );
    assert!(events.contains(&Event::GatheringComplete), "{events:?}");
}

/// A relay reached over UDP is preferred to one over TCP, and that to one over TLS, whatever
/// the order the TURN servers were listed in (here TLS first, UDP last).
#[test]
fn relays_are_preferred_udp_then_tcp_then_tls() {
    use icebreaker_stun::Message;
    use icebreaker_stun::attributes::XorRelayedAddress;
    use icebreaker_turn::{PortPool, Server, ServerConfig, Via};
    let (plain, tls) = (addr("203.0.113.1:3478"), addr("203.0.113.1:5349"));
    let host = addr("192.0.2.1:5000");
    let mut server = {
        let config = ServerConfig {
            realm: "example.org".into(),
            users: vec![("alice".into(), "secret".into())],
            own_addresses: vec![plain.ip()],
            listen: vec![plain, tls],
            ..Default::default()
        };
        let pool = PortPool::new(Some(plain.ip()), None, 49152..=65535, [7; 32]);
        Server::new(config, pool, Instant::now())
    };
    let turn = |server, transport| TurnServer {
        server,
        transport,
        username: "alice".into(),
        password: "secret".into(),
    };
    let mut a = Agent::new(
        AgentConfig {
            turn_servers: vec![
                turn(tls, TurnTransport::Tls),
                turn(plain, TurnTransport::Tcp),
                turn(plain, TurnTransport::Udp),
            ],
            ..controlling()
        },
        creds('a'),
    );
    a.add_host_candidate(host, 1).unwrap();
    let t0 = Instant::now();
    a.start(t0);
    let mut relayed_over = Vec::new();
    let mut buf = Vec::new();
    let mut now = t0;
    while now - t0 < Duration::from_secs(2) {
        a.handle_timeout(now);
        for _ in 0..16 {
            while let Some(t) = a.poll_transmit(&mut buf) {
                server.handle_receive(now, t.from, t.to, &buf);
            }
            while let Some(t) = a.poll_stream_transmit(&mut buf) {
                let transport = if t.to == tls {
                    TurnTransport::Tls
                } else {
                    TurnTransport::Tcp
                };
                server.handle_receive_on(now, transport, t.from, t.to, &buf);
            }
            let mut moved = false;
            while let Some(t) = server.poll_transmit(&mut buf) {
                moved = true;
                let Via::Listener(transport) = t.via else {
                    continue;
                };
                if let Ok(Some(XorRelayedAddress(relayed))) =
                    Message::parse(&buf).and_then(|m| m.get::<XorRelayedAddress>())
                {
                    relayed_over.push((transport, relayed));
                }
                let _ = if transport == TurnTransport::Udp {
                    a.handle_receive(now, t.from, t.to, &buf)
                } else {
                    a.handle_stream_receive(now, t.from, t.to, &buf)
                };
            }
            if !moved {
                break;
            }
        }
        now += Duration::from_millis(10);
    }
    assert_eq!(relayed_over.len(), 3, "{relayed_over:?}");
    // The allocations were made in the order listed: TLS, TCP, UDP.
    let order: Vec<TurnTransport> = relayed_over.iter().map(|r| r.0).collect();
    assert_eq!(
        order,
        [TurnTransport::Tls, TurnTransport::Tcp, TurnTransport::Udp]
    );
    let priority = |transport| {
        let (_, relayed) = relayed_over.iter().find(|r| r.0 == transport).unwrap();
        a.local_candidates()
            .find(|c| c.kind == CandidateKind::Relayed && c.address == *relayed)
            .map(|c| c.priority)
            .unwrap()
    };
    let (udp, tcp, tls) = (
        priority(TurnTransport::Udp),
        priority(TurnTransport::Tcp),
        priority(TurnTransport::Tls),
    );
    assert!(udp > tcp && tcp > tls, "UDP {udp}, TCP {tcp}, TLS {tls}");
}

/// Closing is final: no candidates are taken, a late end-of-candidates or restart changes
/// nothing, and the agent reports nothing more.
#[test]
fn a_closed_agent_stays_closed() {
    let mut p = Pair::hosts();
    p.run(Duration::from_secs(10), Pair::connected);
    let now = p.now;
    p.a.close(now);
    while p.a.poll_event().is_some() {}
    assert_eq!(
        p.a.add_host_candidate(addr("192.0.2.9:5000"), 1),
        Err(Error::Closed)
    );
    let remote = Candidate::parse("candidate:9 1 udp 2130706431 192.0.2.99 7000 typ host").unwrap();
    assert_eq!(p.a.add_remote_candidate(remote.clone()), Err(Error::Closed));
    assert_eq!(
        p.a.add_local_candidate(remote, addr("192.0.2.99:7000")),
        Err(Error::Closed)
    );
    p.a.end_of_remote_candidates();
    p.a.restart(now, creds('z'));
    p.a.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(p.a.state(), State::Closed);
    assert_eq!(p.a.poll_event(), None);
    assert_eq!(p.a.poll_timeout(), None);
    let mut buf = Vec::new();
    assert!(p.a.poll_transmit(&mut buf).is_none());
}
