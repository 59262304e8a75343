//! Client ↔ server end to end, in process, on a virtual clock.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::addr;
use icebreaker_stun::attributes::{
    AlternateServer, Attribute, DontFragment, ErrorCode, Lifetime, Nonce, PasswordAlgorithmId,
    Realm, UnknownAttributes, XorMappedAddress, XorRelayedAddress,
};
use icebreaker_stun::framing::{FramerConfig, StreamFramer};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{AttributeType, Class, Integrity, Message, MessageWriter};
use icebreaker_turn::{
    Client, ClientConfig, Event, Operation, Received, Server, ServerConfig, State, Transport, Via,
};

const C: &str = "192.0.2.10:40000";
const PEER: &str = "8.8.8.8:5000";

struct Net {
    server: Server,
    client: Client,
    now: Instant,
    /// Datagrams the relay sent to peers: (relayed address, peer, bytes).
    at_peers: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Whether each of `at_peers` was to leave with the DF bit set.
    df: Vec<bool>,
    /// Peer data the client received.
    received: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<Event>,
    transport: Transport,
}

impl Net {
    fn new(transport: Transport) -> Self {
        Self::with(|_| {}, |c| c.transport = transport)
    }

    /// `common::config()` and alice's client, each changed by its closure.
    fn with(
        server: impl FnOnce(&mut ServerConfig),
        client: impl FnOnce(&mut ClientConfig),
    ) -> Self {
        let now = Instant::now();
        let mut sc = common::config();
        server(&mut sc);
        let mut cc = ClientConfig::new(addr(C), addr(common::SERVER), "alice", "alice-pass");
        cc.rng_seed = [42; 32];
        client(&mut cc);
        let transport = cc.transport;
        Self {
            server: Server::new(sc, common::pool(), now),
            client: Client::new(cc),
            now,
            at_peers: Vec::new(),
            df: Vec::new(),
            received: Vec::new(),
            events: Vec::new(),
            transport,
        }
    }

    /// Moves datagrams until both sides are quiet (no time passes).
    fn pump(&mut self) {
        let mut buf = Vec::new();
        let mut framer = StreamFramer::new(FramerConfig::default());
        for _ in 0..100 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(&mut buf) {
                moved = true;
                match self.transport {
                    Transport::Udp => self.server.handle_receive(self.now, t.from, t.to, &buf),
                    _ => {
                        // The stream: bytes in arbitrary pieces through a framer.
                        for chunk in buf.chunks(7) {
                            framer.push(chunk).unwrap();
                            while let Some(f) = framer.next_frame().unwrap() {
                                let bytes = f.as_bytes().to_vec();
                                self.server.handle_receive_on(
                                    self.now,
                                    self.transport,
                                    t.from,
                                    t.to,
                                    &bytes,
                                );
                            }
                        }
                    }
                }
            }
            while let Some(t) = self.server.poll_transmit(&mut buf) {
                moved = true;
                match t.via {
                    Via::Relay { dont_fragment } => {
                        self.at_peers.push((t.from, t.to, buf.clone()));
                        self.df.push(dont_fragment);
                    }
                    Via::Listener(tr) => {
                        assert_eq!(tr, self.transport);
                        if tr != Transport::Udp {
                            assert_eq!(buf.len() % 4, 0, "stream frames are padded");
                        }
                        match self.client.handle_receive(self.now, t.from, t.to, &buf) {
                            Received::PeerData { peer, data } => {
                                self.received.push((peer, data.to_vec()))
                            }
                            Received::Handled => {}
                            Received::NotForUs => panic!("server datagram not for the client"),
                        }
                    }
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Runs the clock forward to `until`, firing timers on both sides.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.pump();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
        self.client.handle_timeout(until);
        self.server.handle_timeout(until);
        self.pump();
    }

    fn relay(&self) -> SocketAddr {
        self.client.relayed_addresses()[0]
    }
}

fn full_session(transport: Transport) {
    let mut n = Net::new(transport);
    n.client.allocate(n.now);
    n.pump();
    assert!(
        matches!(n.events.first(), Some(Event::Allocated { .. })),
        "{:?}",
        n.events
    );
    assert_eq!(n.client.state(), State::Allocated);
    assert_eq!(n.client.mapped_address(), Some(addr(C)));
    let peer = addr(PEER);
    n.client.create_permission(n.now, peer.ip()).unwrap();
    n.pump();
    assert!(n.events.contains(&Event::PermissionCreated(peer.ip())));

    // Client → peer by Send indication, and back by Data indication.
    n.client.send_to(peer, b"via indication").unwrap();
    n.pump();
    assert_eq!(
        n.at_peers.pop(),
        Some((n.relay(), peer, b"via indication".to_vec()))
    );
    n.server
        .handle_peer_receive(n.now, n.relay(), peer, b"reply 1");
    n.pump();
    assert_eq!(n.received.pop(), Some((peer, b"reply 1".to_vec())));

    // Through a channel, both ways.
    let ch = n.client.bind_channel(n.now, peer).unwrap();
    n.pump();
    assert!(
        n.events
            .contains(&Event::ChannelBound { peer, channel: ch })
    );
    n.client.send_to(peer, b"via channel").unwrap();
    n.pump();
    assert_eq!(
        n.at_peers.pop(),
        Some((n.relay(), peer, b"via channel".to_vec()))
    );
    n.server
        .handle_peer_receive(n.now, n.relay(), peer, b"reply 2");
    n.pump();
    assert_eq!(n.received.pop(), Some((peer, b"reply 2".to_vec())));

    // An hour of virtual time: refreshes (with stale nonces on the way) keep it all alive.
    let start = n.now;
    n.run_until(start + Duration::from_secs(3600));
    assert_eq!(n.client.state(), State::Allocated);
    let refreshes = n
        .events
        .iter()
        .filter(|e| matches!(e, Event::Refreshed { .. }))
        .count();
    assert!(refreshes >= 6, "{refreshes} refreshes");
    assert!(
        !n.events.iter().any(|e| matches!(e, Event::Failed { .. })),
        "{:?}",
        n.events
    );
    n.client.send_to(peer, b"an hour later").unwrap();
    n.pump();
    assert_eq!(
        n.at_peers.pop(),
        Some((n.relay(), peer, b"an hour later".to_vec()))
    );
    n.server
        .handle_peer_receive(n.now, n.relay(), peer, b"still here");
    n.pump();
    assert_eq!(n.received.pop(), Some((peer, b"still here".to_vec())));

    // Delete.
    n.client.delete(n.now).unwrap();
    n.pump();
    assert_eq!(n.events.last(), Some(&Event::Deleted));
    assert_eq!(n.server.stats().allocations, 0);
    assert_eq!(n.server.ports().in_use(), 0);
}

#[test]
fn end_to_end_over_udp() {
    full_session(Transport::Udp);
}

#[test]
fn end_to_end_over_tcp_through_the_framer() {
    full_session(Transport::Tcp);
}

#[test]
fn refused_permission_is_an_event_with_the_code() {
    let mut n = Net::new(Transport::Udp);
    n.client.allocate(n.now);
    n.pump();
    n.client
        .create_permission(n.now, "127.0.0.1".parse().unwrap())
        .unwrap();
    n.pump();
    assert!(n.events.contains(&Event::Failed {
        operation: Operation::CreatePermission("127.0.0.1".parse().unwrap()),
        code: Some(403)
    }));
    assert_eq!(
        n.client.send_to(addr("127.0.0.1:1"), b"x"),
        Err(icebreaker_turn::Error::NoPermission)
    );
}

/// Allocates with DONT-FRAGMENT on a server that can (`server_df`) or cannot set DF, with or
/// without the fallback, then sends one Send indication to PEER; returns the net.
fn allocate_with_dont_fragment(server_df: bool, fallback: bool) -> Net {
    let mut n = Net::with(
        |s| s.dont_fragment = server_df,
        |c| {
            c.dont_fragment = true;
            c.dont_fragment_fallback = fallback;
        },
    );
    n.client.allocate(n.now);
    n.pump();
    if n.client.state() == State::Allocated {
        let peer = addr(PEER);
        n.client.create_permission(n.now, peer.ip()).unwrap();
        n.pump();
        n.client.send_to(peer, b"df?").unwrap();
        n.pump();
    }
    n
}

#[test]
fn dont_fragment_falls_back_when_the_server_cannot_set_df() {
    // A server that can: DF asked and passed on; no fallback needed.
    let n = allocate_with_dont_fragment(true, true);
    assert!(
        !n.events.contains(&Event::DontFragmentRefused),
        "{:?}",
        n.events
    );
    assert!(n.client.dont_fragment());
    assert_eq!(n.df, [true]);

    // A server that cannot, without the fallback: the Allocate fails with 420.
    let n = allocate_with_dont_fragment(false, false);
    assert_eq!(n.client.state(), State::Closed);
    assert!(
        n.events.contains(&Event::Failed {
            operation: Operation::Allocate,
            code: Some(420)
        }),
        "{:?}",
        n.events
    );

    // With the fallback: allocated without DF, and the Send indication no longer asks for it.
    let n = allocate_with_dont_fragment(false, true);
    assert_eq!(n.client.state(), State::Allocated, "{:?}", n.events);
    assert_eq!(n.events.first(), Some(&Event::DontFragmentRefused));
    assert!(
        !n.events.iter().any(|e| matches!(e, Event::Failed { .. })),
        "{:?}",
        n.events
    );
    assert!(!n.client.dont_fragment());
    assert_eq!(n.at_peers.len(), 1);
    assert_eq!(n.df, [false]);
}

/// Only an authenticated 420 that names DONT-FRAGMENT makes the client fall back: one naming
/// another attribute fails the Allocate, and an unsigned one is ignored like any other
/// unauthenticated answer to a signed request.
#[test]
fn dont_fragment_fallback_needs_a_signed_420_naming_it() {
    let df = |c: &mut ClientConfig| {
        c.dont_fragment = true;
        c.dont_fragment_fallback = true;
    };
    let refuse = |t: u16| {
        move |w: &mut MessageWriter<'_>| {
            w.push(&ErrorCode::bare(420)).unwrap();
            w.push(&UnknownAttributes::List(&[AttributeType(t)]))
                .unwrap();
        }
    };
    let failed = [Event::Failed {
        operation: Operation::Allocate,
        code: Some(420),
    }];
    let (client, events) = answer_allocate_with(df, Class::Error, true, refuse(0x7f00));
    assert_eq!(events, failed);
    assert!(client.dont_fragment());
    let (client, events) = answer_allocate_with(df, Class::Error, false, refuse(0x001a));
    assert!(events.is_empty(), "{events:?}");
    assert!(client.dont_fragment());
    // The first Allocate carries no credentials, so its answers cannot be authenticated: a 420
    // to it fails the Allocate like any other error, and leaves DF asked for.
    let now = Instant::now();
    let mut client = Client::new({
        let mut c = ClientConfig::new(addr(C), addr(common::SERVER), "alice", "alice-pass");
        df(&mut c);
        c
    });
    client.allocate(now);
    let mut buf = Vec::new();
    let _ = client.poll_transmit(&mut buf).unwrap();
    let req = Message::parse(&buf).unwrap();
    let mut out = [0u8; 256];
    let mut w =
        MessageWriter::new(&mut out, Class::Error, req.method(), req.transaction_id()).unwrap();
    refuse(0x001a)(&mut w);
    let len = w.finish(false).unwrap();
    let _ = client.handle_receive(now, addr(common::SERVER), addr(C), &out[..len]);
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert_eq!(events, failed);
    assert!(client.dont_fragment());
    let (client, events) = answer_allocate_with(df, Class::Error, true, refuse(0x001a));
    assert_eq!(events, [Event::DontFragmentRefused]);
    assert!(!client.dont_fragment());
    assert_eq!(client.state(), State::Allocating);
}

/// One hand-made answer: its class, whether it is signed, and what it carries.
type Answer = (Class, bool, Box<dyn Fn(&mut MessageWriter<'_>)>);

/// Starts an Allocate with the client's configuration changed by `config`, then answers each
/// request the client sends with the next of `answers`, as an RFC 5389 server would (a nonce
/// without the RFC 8489 cookie, so MD5 key and MESSAGE-INTEGRITY). Returns the
/// client, where each request went and whether it asked for DONT-FRAGMENT (including the one
/// the last answer caused, if any), and the events.
fn script(
    config: impl FnOnce(&mut ClientConfig),
    answers: Vec<Answer>,
) -> (Client, Vec<(SocketAddr, bool)>, Vec<Event>) {
    let now = Instant::now();
    let mut cc = ClientConfig::new(addr(C), addr(common::SERVER), "alice", "alice-pass");
    config(&mut cc);
    let mut client = Client::new(cc);
    client.allocate(now);
    let key = Key::long_term(
        "alice",
        common::REALM,
        "alice-pass",
        PasswordAlgorithmId::MD5,
        Preparation::OpaqueString,
    )
    .unwrap();
    let (mut buf, mut sent) = (Vec::new(), Vec::new());
    for (class, signed, write) in answers {
        let t = client.poll_transmit(&mut buf).expect("a request to answer");
        let req = Message::parse(&buf).unwrap();
        sent.push((t.to, req.has(DontFragment::TYPE)));
        let mut out = [0u8; 256];
        let mut w =
            MessageWriter::new(&mut out, class, req.method(), req.transaction_id()).unwrap();
        write(&mut w);
        let len = if signed {
            w.finish_with_integrity(&key, Integrity::Sha1, false)
        } else {
            w.finish(false)
        }
        .unwrap();
        let _ = client.handle_receive(now, t.to, addr(C), &out[..len]);
    }
    if let Some(t) = client.poll_transmit(&mut buf) {
        sent.push((t.to, Message::parse(&buf).unwrap().has(DontFragment::TYPE)));
    }
    let events = std::iter::from_fn(|| client.poll_event()).collect();
    (client, sent, events)
}

/// An answer with ERROR-CODE `code`, REALM and a fresh NONCE (a 401 or a 438).
fn challenge(code: u16, signed: bool) -> Answer {
    let write = move |w: &mut MessageWriter<'_>| {
        w.push(&ErrorCode::bare(code)).unwrap();
        w.push(&Realm(common::REALM)).unwrap();
        w.push(&Nonce(&format!("nonce-{code}"))).unwrap();
    };
    (Class::Error, signed, Box::new(write))
}

/// A signed 420 naming DONT-FRAGMENT.
fn df_refused() -> Answer {
    let write = |w: &mut MessageWriter<'_>| {
        w.push(&ErrorCode::bare(420)).unwrap();
        w.push(&UnknownAttributes::List(&[DontFragment::TYPE]))
            .unwrap();
    };
    (Class::Error, true, Box::new(write))
}

fn with_df_fallback(c: &mut ClientConfig) {
    c.dont_fragment = true;
    c.dont_fragment_fallback = true;
}

/// The retry without DONT-FRAGMENT keeps the count of 438s: the fallback does not buy a server
/// more stale nonces than the client allows (three).
#[test]
fn dont_fragment_fallback_keeps_the_stale_nonce_count() {
    let stale_then_refused = |stale: usize| {
        let mut answers = vec![challenge(401, false)];
        answers.extend((0..stale).map(|_| challenge(438, false)));
        answers.push(df_refused());
        answers.push(challenge(438, false));
        script(with_df_fallback, answers)
    };
    // Two 438s, the 420, a third 438: still retried, without DF.
    let (client, sent, events) = stale_then_refused(2);
    assert_eq!(events, [Event::DontFragmentRefused]);
    assert_eq!(client.state(), State::Allocating);
    let df: Vec<bool> = sent.iter().map(|s| s.1).collect();
    assert_eq!(df, [true, true, true, true, false, false]);
    // Three 438s, the 420, a fourth 438: that one fails the Allocate.
    let (client, sent, events) = stale_then_refused(3);
    assert_eq!(
        events,
        [
            Event::DontFragmentRefused,
            Event::Failed {
                operation: Operation::Allocate,
                code: Some(438)
            }
        ]
    );
    assert_eq!(client.state(), State::Closed);
    assert_eq!(sent.len(), 6, "no request after the fourth 438: {sent:?}");
}

/// A refusal holds for the server that made it: after a 300 to another server, the client asks
/// that one for DONT-FRAGMENT again.
#[test]
fn dont_fragment_is_asked_again_after_a_redirect() {
    let redirect = |w: &mut MessageWriter<'_>| {
        w.push(&ErrorCode::bare(300)).unwrap();
        w.push(&AlternateServer(addr("8.8.4.4:3478"))).unwrap();
    };
    let answers: Vec<Answer> = vec![
        challenge(401, false),
        df_refused(),
        (Class::Error, true, Box::new(redirect)),
    ];
    let (client, sent, events) = script(with_df_fallback, answers);
    assert_eq!(
        events,
        [
            Event::DontFragmentRefused,
            Event::Redirected {
                to: addr("8.8.4.4:3478")
            }
        ]
    );
    assert!(client.dont_fragment());
    let server = addr(common::SERVER);
    assert_eq!(
        sent,
        [
            (server, true),
            (server, true),
            (server, false),
            (addr("8.8.4.4:3478"), true)
        ]
    );
}

#[test]
fn wrong_password_fails_with_401() {
    let now = Instant::now();
    let mut server = Server::new(common::config(), common::pool(), now);
    let mut client = Client::new(ClientConfig::new(
        addr(C),
        addr(common::SERVER),
        "alice",
        "wrong",
    ));
    client.allocate(now);
    let mut buf = Vec::new();
    for _ in 0..4 {
        while let Some(t) = client.poll_transmit(&mut buf) {
            server.handle_receive(now, t.from, t.to, &buf);
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            let _ = client.handle_receive(now, t.from, t.to, &buf);
        }
    }
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed {
            operation: Operation::Allocate,
            code: Some(401)
        })
    );
    assert_eq!(client.state(), State::Closed);
}

/// Runs the 401 flow, then answers the signed Allocate with a hand-made response of `class`
/// that `write` fills, signed or not; returns the client and its events.
fn answer_allocate(
    class: Class,
    signed: bool,
    write: impl FnOnce(&mut MessageWriter<'_>),
) -> (Client, Vec<Event>) {
    answer_allocate_with(|_| {}, class, signed, write)
}

/// [`answer_allocate`] with the client's configuration changed by `config`.
fn answer_allocate_with(
    config: impl FnOnce(&mut ClientConfig),
    class: Class,
    signed: bool,
    write: impl FnOnce(&mut MessageWriter<'_>),
) -> (Client, Vec<Event>) {
    let now = Instant::now();
    let mut server = Server::new(common::config(), common::pool(), now);
    let mut cc = ClientConfig::new(addr(C), addr(common::SERVER), "alice", "alice-pass");
    config(&mut cc);
    let mut client = Client::new(cc);
    client.allocate(now);
    let mut buf = Vec::new();
    let t = client.poll_transmit(&mut buf).unwrap();
    server.handle_receive(now, t.from, t.to, &buf);
    let t = server.poll_transmit(&mut buf).unwrap();
    let _ = client.handle_receive(now, t.from, t.to, &buf);
    // The signed Allocate: answer it ourselves.
    let _ = client.poll_transmit(&mut buf).unwrap();
    let req = Message::parse(&buf).unwrap();
    let key = Key::long_term(
        "alice",
        common::REALM,
        "alice-pass",
        PasswordAlgorithmId::SHA256,
        Preparation::OpaqueString,
    )
    .unwrap();
    let mut out = [0u8; 256];
    let mut w = MessageWriter::new(&mut out, class, req.method(), req.transaction_id()).unwrap();
    write(&mut w);
    let len = if signed {
        w.finish_with_integrity(&key, Integrity::Sha256, false)
    } else {
        w.finish(false)
    }
    .unwrap();
    assert_eq!(
        client.handle_receive(now, addr(common::SERVER), addr(C), &out[..len]),
        Received::Handled
    );
    let mut events = Vec::new();
    while let Some(e) = client.poll_event() {
        events.push(e);
    }
    (client, events)
}

/// [`answer_allocate`] with a 300 pointing at `alternate`.
fn try_alternate(alternate: &str, signed: bool) -> (Client, Vec<Event>) {
    answer_allocate(Class::Error, signed, |w| {
        w.push(&ErrorCode::bare(300)).unwrap();
        w.push(&AlternateServer(addr(alternate))).unwrap();
    })
}

/// RFC 8489 §6.3.3 and §6.3.4: an authenticated success with an unknown comprehension-required
/// attribute, or an error without ERROR-CODE, fails the Allocate; unauthenticated, it is
/// ignored like any other unauthenticated answer to a signed request.
#[test]
fn faulty_answers_fail_the_allocate() {
    let success = |w: &mut MessageWriter<'_>| {
        w.push(&XorRelayedAddress(addr("192.0.2.1:50000"))).unwrap();
        w.push(&XorMappedAddress(addr(C))).unwrap();
        w.push(&Lifetime(600)).unwrap();
        w.push_raw(AttributeType(0x7f00), &[0; 4]).unwrap();
    };
    let failed = [Event::Failed {
        operation: Operation::Allocate,
        code: None,
    }];
    let (client, events) = answer_allocate(Class::Success, true, success);
    assert_eq!(events, failed);
    assert_eq!(client.state(), State::Closed);
    let (client, events) = answer_allocate(Class::Error, true, |_| {});
    assert_eq!(events, failed);
    assert_eq!(client.state(), State::Closed);
    let (client, events) = answer_allocate(Class::Success, false, success);
    assert!(events.is_empty(), "{events:?}");
    assert_ne!(client.state(), State::Closed);
    // The same success without the unknown attribute allocates.
    let (client, _) = answer_allocate(Class::Success, true, |w| {
        w.push(&XorRelayedAddress(addr("192.0.2.1:50000"))).unwrap();
        w.push(&XorMappedAddress(addr(C))).unwrap();
        w.push(&Lifetime(600)).unwrap();
    });
    assert_eq!(client.state(), State::Allocated);
}

#[test]
fn try_alternate_is_followed_when_authenticated() {
    let (mut client, events) = try_alternate("8.8.4.4:3478", true);
    assert_eq!(
        events,
        [Event::Redirected {
            to: addr("8.8.4.4:3478")
        }]
    );
    let mut buf = Vec::new();
    assert_eq!(
        client.poll_transmit(&mut buf).unwrap().to,
        addr("8.8.4.4:3478")
    );
}

#[test]
fn try_alternate_to_a_denied_range_is_refused() {
    let (client, events) = try_alternate("169.254.169.254:3478", true);
    assert_eq!(
        events,
        [Event::Failed {
            operation: Operation::Allocate,
            code: Some(300)
        }]
    );
    assert_eq!(client.server(), addr(common::SERVER));
}

#[test]
fn unauthenticated_try_alternate_is_ignored() {
    let (mut client, events) = try_alternate("8.8.4.4:3478", false);
    assert!(events.is_empty());
    assert_eq!(client.server(), addr(common::SERVER));
    // The request is still pending and retransmits to the original server.
    let mut buf = Vec::new();
    client.handle_timeout(Instant::now() + Duration::from_secs(1));
    assert_eq!(
        client.poll_transmit(&mut buf).map(|t| t.to),
        Some(addr(common::SERVER))
    );
}

#[test]
fn datagrams_from_elsewhere_are_not_for_us() {
    let mut n = Net::new(Transport::Udp);
    n.client.allocate(n.now);
    n.pump();
    assert_eq!(
        n.client
            .handle_receive(n.now, addr("8.8.8.8:1"), addr(C), b"\x40\x00\x00\x00"),
        Received::NotForUs
    );
    assert_eq!(
        n.client
            .handle_receive(n.now, addr(common::SERVER), addr(C), b"\x16\x03\x01"),
        Received::NotForUs
    );
    // A response from the server to none of the client's requests: someone else's sharing
    // the socket (an ICE agent's STUN Binding request to the same server).
    let mut answer = [0u8; 64];
    let tid = icebreaker_stun::TransactionId::new([7; 12]);
    let mut w = icebreaker_stun::MessageWriter::new(
        &mut answer,
        icebreaker_stun::Class::Success,
        icebreaker_stun::Method::BINDING,
        tid,
    )
    .unwrap();
    w.push(&icebreaker_stun::attributes::XorMappedAddress(addr(C)))
        .unwrap();
    let len = w.finish(true).unwrap();
    assert_eq!(
        n.client
            .handle_receive(n.now, addr(common::SERVER), addr(C), &answer[..len]),
        Received::NotForUs
    );
}

/// RFC 8656 §7.1 from the client's side: `delete_family` drops one family of a dual allocation
/// at the server and in the client (its relayed address, its permissions and channels); the
/// other family keeps relaying and is refreshed alone. Asking to delete a family the
/// allocation does not have beside another is refused locally.
#[test]
fn the_client_deletes_one_family_of_a_dual_allocation() {
    use icebreaker_stun::attributes::AddressFamily;
    use icebreaker_turn::Error as ClientError;
    let mut net = Net::new(Transport::Udp);
    let mut cc = ClientConfig::new(addr(C), addr(common::SERVER), "alice", "alice-pass");
    cc.rng_seed = [42; 32];
    cc.additional_ipv6 = true;
    net.client = Client::new(cc);
    net.client.allocate(net.now);
    net.pump();
    let relayed = net.client.relayed_addresses().to_vec();
    assert!(
        relayed.len() == 2 && relayed[0].is_ipv4() && relayed[1].is_ipv6(),
        "{relayed:?}"
    );
    let peer6: SocketAddr = "[2606:4700:4700::1111]:53".parse().unwrap();
    net.client
        .create_permission(net.now, addr(PEER).ip())
        .unwrap();
    let ch = net.client.bind_channel(net.now, peer6).unwrap();
    net.pump();
    assert_eq!(net.client.channel(peer6), Some(ch));
    net.events.clear();
    net.client
        .delete_family(net.now, AddressFamily::V6)
        .unwrap();
    net.pump();
    assert_eq!(net.events, [Event::FamilyDeleted(AddressFamily::V6)]);
    assert_eq!(net.client.relayed_addresses(), &relayed[..1]);
    assert_eq!(net.client.channel(peer6), None);
    assert_eq!(
        net.client.send_to(peer6, b"six"),
        Err(ClientError::NoPermission)
    );
    let tuple = icebreaker_turn::FiveTuple {
        client: addr(C),
        server: addr(common::SERVER),
        transport: Transport::Udp,
    };
    assert_eq!(net.server.relayed_addresses(&tuple), relayed[..1]);
    // The last family cannot go this way; nor can one the allocation lacks.
    assert_eq!(
        net.client.delete_family(net.now, AddressFamily::V4),
        Err(ClientError::NotOneOfTwoFamilies)
    );
    assert_eq!(
        net.client.delete_family(net.now, AddressFamily::V6),
        Err(ClientError::NotOneOfTwoFamilies)
    );
    // The IPv4 side still relays and is refreshed past the allocation's first lifetime.
    net.client.send_to(addr(PEER), b"four").unwrap();
    net.pump();
    assert!(
        net.at_peers
            .iter()
            .any(|(from, to, d)| *from == relayed[0] && *to == addr(PEER) && d == b"four")
    );
    let later = net.now + Duration::from_secs(1300);
    net.run_until(later);
    assert_eq!(net.client.state(), State::Allocated);
    assert_eq!(net.server.relayed_addresses(&tuple), relayed[..1]);
}

/// A delete that cannot be sent (64 transactions already pending) ends the client rather than
/// leaving it Deleting with nothing under way; and while a delete is out, a permission refresh
/// falling due is not reported as a timer (`handle_timeout` would not run it, and a caller
/// would spin on a past deadline).
#[test]
fn a_delete_never_leaves_the_client_stuck() {
    // 64 CreatePermissions nobody answers, then the delete.
    let mut n = Net::new(Transport::Udp);
    n.client.allocate(n.now);
    n.pump();
    assert_eq!(n.client.state(), State::Allocated);
    let mut buf = Vec::new();
    for i in 0..64u8 {
        n.client
            .create_permission(n.now, std::net::IpAddr::from([8, 8, 9, i]))
            .unwrap();
    }
    while n.client.poll_transmit(&mut buf).is_some() {}
    n.client.delete(n.now).unwrap();
    assert_eq!(n.client.state(), State::Closed);
    let events: Vec<Event> = std::iter::from_fn(|| n.client.poll_event()).collect();
    assert!(
        events.contains(&Event::Failed {
            operation: Operation::Refresh,
            code: None
        }),
        "{events:?}"
    );

    // A permission, then, 10 s before its refresh (240 s), a delete the server never answers.
    let mut n = Net::new(Transport::Udp);
    n.client.allocate(n.now);
    n.pump();
    n.client.create_permission(n.now, addr(PEER).ip()).unwrap();
    n.pump();
    let t1 = n.now + Duration::from_secs(230);
    n.client.handle_timeout(t1);
    n.client.delete(t1).unwrap();
    while n.client.poll_transmit(&mut buf).is_some() {}
    let mut at = t1;
    let mut steps = 0;
    while let Some(next) = n.client.poll_timeout() {
        steps += 1;
        assert!(steps < 100, "{steps} timers");
        assert!(next > at, "a deadline already past: {next:?} at {at:?}");
        at = next;
        n.client.handle_timeout(at);
        while n.client.poll_transmit(&mut buf).is_some() {}
    }
    // Given up after the transaction timeout, across the permission's refresh time.
    assert!(at - t1 > Duration::from_secs(10), "{:?}", at - t1);
    assert_eq!(n.client.state(), State::Closed);
}
