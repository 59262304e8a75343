//! A test harness: a server on a virtual clock, and a low-level client that writes requests
//! byte by byte (so malformed ones can be written too).
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::PasswordAlgorithmId;
use icebreaker_stun::attributes::{
    ChannelNumber, Data, ErrorCode, Nonce, Realm, RequestedTransport, Username, XorPeerAddress,
};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{Class, Integrity, Message, MessageWriter, Method, TransactionId};
use icebreaker_turn::{PeerPolicy, PortPool, Server, ServerConfig, ServerTransmit, Transport, Via};

pub const SERVER: &str = "203.0.113.1:3478";
pub const REALM: &str = "example.org";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn config() -> ServerConfig {
    ServerConfig {
        realm: REALM.into(),
        users: vec![
            ("alice".into(), "alice-pass".into()),
            ("bob".into(), "bob-pass".into()),
        ],
        auth_secrets: vec![b"current-secret".to_vec(), b"previous-secret".to_vec()],
        nonce_secret: [9; 32],
        rng_seed: [8; 32],
        unix_time: 1_700_000_000,
        own_addresses: vec![addr(SERVER).ip()],
        listen: vec![addr(SERVER)],
        ..Default::default()
    }
}

pub fn pool() -> PortPool {
    PortPool::new(
        Some(addr(SERVER).ip()),
        Some("2001:4860::1".parse().unwrap()),
        49152..=65535,
        [7; 32],
    )
}

/// What came back for one request.
#[derive(Debug)]
pub struct Answer {
    pub class: Class,
    pub code: Option<u16>,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn msg(&self) -> Message<'_> {
        Message::parse(&self.bytes).unwrap()
    }
}

pub struct Harness {
    pub server: Server,
    pub t0: Instant,
    pub now: Instant,
    pub nonces: std::collections::BTreeMap<SocketAddr, String>,
    pub tid: u64,
    pub no_retry: bool,
    /// The transport every request and ChannelData message arrives on (UDP unless changed).
    pub transport: Transport,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(config())
    }

    pub fn with(config: ServerConfig) -> Self {
        let t0 = Instant::now();
        Self {
            server: Server::new(config, pool(), t0),
            t0,
            now: t0,
            nonces: Default::default(),
            tid: 1,
            no_retry: false,
            transport: Transport::Udp,
        }
    }

    pub fn with_policy(policy: PeerPolicy) -> Self {
        Self::with(ServerConfig {
            peer_policy: policy,
            ..config()
        })
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.server.handle_timeout(self.now);
    }

    pub fn at(&mut self, since_start: Duration) {
        self.now = self.t0 + since_start;
        self.server.handle_timeout(self.now);
    }

    pub fn next_tid(&mut self) -> TransactionId {
        self.tid += 1;
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.tid.to_be_bytes());
        TransactionId::new(b)
    }

    /// Everything the server wants to send.
    pub fn drain(&mut self) -> Vec<(ServerTransmit, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(t) = self.server.poll_transmit(&mut buf) {
            out.push((t, buf.clone()));
        }
        out
    }

    /// Datagrams relayed to peers.
    pub fn relayed(&mut self) -> Vec<(ServerTransmit, Vec<u8>)> {
        self.drain()
            .into_iter()
            .filter(|(t, _)| matches!(t.via, Via::Relay { .. }))
            .collect()
    }

    /// Sends raw bytes from `from`; returns the answer to `from`, if any (other output dropped).
    pub fn send_raw(&mut self, from: SocketAddr, bytes: &[u8]) -> Option<Answer> {
        self.server
            .handle_receive_on(self.now, self.transport, from, addr(SERVER), bytes);
        let transport = self.transport;
        self.drain()
            .into_iter()
            .find(|(t, _)| t.to == from && t.via == Via::Listener(transport))
            .map(|(_, b)| {
                let m = Message::parse(&b).unwrap();
                let code = m.get::<ErrorCode<'_>>().unwrap().map(|e| e.code);
                Answer {
                    class: m.class(),
                    code,
                    bytes: b,
                }
            })
    }

    /// Gets a fresh nonce for `from` with an unauthenticated Allocate.
    pub fn challenge(&mut self, from: SocketAddr) -> Answer {
        let tid = self.next_tid();
        let mut buf = [0u8; 128];
        let mut w = MessageWriter::new(&mut buf, Class::Request, Method::ALLOCATE, tid).unwrap();
        w.push(&RequestedTransport::UDP).unwrap();
        let n = w.finish(true).unwrap();
        let a = self.send_raw(from, &buf[..n]).expect("a 401");
        assert_eq!(a.code, Some(401));
        let n = a.msg().get::<Nonce<'_>>().unwrap().unwrap().0.to_string();
        self.nonces.insert(from, n);
        a
    }

    /// Writes a signed request as `user` (MD5 key, MESSAGE-INTEGRITY) with attributes added by `f`.
    pub fn request_as(
        &mut self,
        from: SocketAddr,
        user: &str,
        pass: &str,
        method: Method,
        f: impl FnOnce(&mut MessageWriter<'_>),
    ) -> Vec<u8> {
        if !self.nonces.contains_key(&from) {
            self.challenge(from);
        }
        let nonce = self.nonces[&from].clone();
        let tid = self.next_tid();
        let key = Key::long_term(
            user,
            REALM,
            pass,
            PasswordAlgorithmId::MD5,
            Preparation::OpaqueString,
        )
        .unwrap();
        let mut buf = vec![0u8; 1500];
        let mut w = MessageWriter::new(&mut buf, Class::Request, method, tid).unwrap();
        f(&mut w);
        w.push(&Username(user)).unwrap();
        w.push(&Realm(REALM)).unwrap();
        w.push(&Nonce(&nonce)).unwrap();
        let n = w
            .finish_with_integrity(&key, Integrity::Sha1, false)
            .unwrap();
        buf.truncate(n);
        buf
    }

    pub fn ask_as(
        &mut self,
        from: SocketAddr,
        user: &str,
        pass: &str,
        method: Method,
        f: impl Fn(&mut MessageWriter<'_>),
    ) -> Answer {
        let req = self.request_as(from, user, pass, method, &f);
        let a = self.send_raw(from, &req).expect("an answer");
        if a.code != Some(438) || self.no_retry {
            return a;
        }
        // Stale nonce: take the new one and retry, as a client does.
        let fresh = a.msg().get::<Nonce<'_>>().unwrap().unwrap().0.to_string();
        self.nonces.insert(from, fresh);
        let req = self.request_as(from, user, pass, method, &f);
        self.send_raw(from, &req).expect("an answer")
    }

    pub fn ask(
        &mut self,
        from: SocketAddr,
        method: Method,
        f: impl Fn(&mut MessageWriter<'_>),
    ) -> Answer {
        self.ask_as(from, "alice", "alice-pass", method, f)
    }

    /// Allocates for `from` as alice; returns the relayed address.
    pub fn allocate(&mut self, from: SocketAddr) -> SocketAddr {
        let a = self.ask(from, Method::ALLOCATE, |w| {
            w.push(&RequestedTransport::UDP).unwrap()
        });
        assert_eq!(a.class, Class::Success, "{a:?}");
        a.msg()
            .get::<icebreaker_stun::attributes::XorRelayedAddress>()
            .unwrap()
            .unwrap()
            .0
    }

    pub fn permit(&mut self, from: SocketAddr, peer: SocketAddr) -> Answer {
        self.ask(from, Method::CREATE_PERMISSION, |w| {
            w.push(&XorPeerAddress(peer)).unwrap()
        })
    }

    pub fn bind(&mut self, from: SocketAddr, channel: u16, peer: SocketAddr) -> Answer {
        self.ask(from, Method::CHANNEL_BIND, |w| {
            w.push(&ChannelNumber(channel)).unwrap();
            w.push(&XorPeerAddress(peer)).unwrap();
        })
    }

    /// A Send indication from `from` to `peer`; returns what was relayed.
    pub fn send_indication(
        &mut self,
        from: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) -> Vec<(ServerTransmit, Vec<u8>)> {
        let tid = self.next_tid();
        let mut buf = vec![0u8; 1500];
        let mut w = MessageWriter::new(&mut buf, Class::Indication, Method::SEND, tid).unwrap();
        w.push(&XorPeerAddress(peer)).unwrap();
        w.push(&Data(data)).unwrap();
        let n = w.finish(false).unwrap();
        self.server
            .handle_receive_on(self.now, self.transport, from, addr(SERVER), &buf[..n]);
        self.relayed()
    }

    /// A ChannelData message from `from`; returns what was relayed.
    pub fn channel_data(&mut self, from: SocketAddr, raw: &[u8]) -> Vec<(ServerTransmit, Vec<u8>)> {
        self.server
            .handle_receive_on(self.now, self.transport, from, addr(SERVER), raw);
        self.relayed()
    }

    pub fn peer_ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
}

pub fn channel_frame(ch: u16, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; data.len() + 8];
    let n = icebreaker_stun::ChannelData::encode(ch, data, false, &mut buf).unwrap();
    buf.truncate(n);
    buf
}
