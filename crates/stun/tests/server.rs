//! The binding server and the RFC 5780 discovery client, driven directly (no NAT in between).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::{
    self, ChangeRequest, ErrorCode, OtherAddress, Padding, ResponseOrigin, ResponsePort,
    UnknownAttributes, XorMappedAddress,
};
use icebreaker_stun::discovery::{Behavior, DiscoveryConfig, NatDiscovery};
use icebreaker_stun::server::{BindingServer, ServerConfig};
use icebreaker_stun::{AttributeType, Class, Message, MessageWriter, Method, TransactionId};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const A1P1: &str = "192.0.2.10:3478";
const A2P2: &str = "192.0.2.20:3479";
const CLIENT: &str = "198.51.100.5:40000";

fn rfc5780_server() -> BindingServer {
    BindingServer::new(ServerConfig {
        primary: Some(addr(A1P1)),
        other: Some(addr(A2P2)),
        ..Default::default()
    })
}

fn request(build: impl FnOnce(&mut MessageWriter<'_>), fingerprint: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([3; 12]),
    )
    .unwrap();
    build(&mut w);
    let n = w.finish(fingerprint).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn answers_binding_with_xor_mapped_address_and_nothing_else() {
    let mut server = BindingServer::new(ServerConfig::default());
    let req = request(|_| {}, false);
    let mut out = [0u8; 1500];
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    assert_eq!((r.from, r.to), (addr(A1P1), addr(CLIENT)));
    let msg = Message::parse(&out[..r.len]).unwrap();
    assert_eq!(
        (msg.class(), msg.method()),
        (Class::Success, Method::BINDING)
    );
    assert_eq!(msg.transaction_id(), TransactionId::new([3; 12]));
    assert_eq!(
        msg.get::<XorMappedAddress>().unwrap(),
        Some(XorMappedAddress(addr(CLIENT)))
    );
    // No SOFTWARE, no fingerprint (the request had none), no RFC 5780 attributes.
    assert_eq!(msg.attributes().count(), 1);
}

#[test]
fn mirrors_fingerprint_and_adds_software_only_when_configured() {
    let mut server = BindingServer::new(ServerConfig {
        software: Some("icebreaker".into()),
        ..Default::default()
    });
    let req = request(|_| {}, true);
    let mut out = [0u8; 1500];
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    let msg = Message::parse(&out[..r.len]).unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(
        msg.get::<attributes::Software<'_>>().unwrap().unwrap().0,
        "icebreaker"
    );
}

#[test]
fn unknown_comprehension_required_attribute_gets_420_listing_it() {
    let mut server = BindingServer::new(ServerConfig::default());
    let req = request(
        |w| {
            w.push_raw(icebreaker_stun::AttributeType(0x7f01), b"x")
                .unwrap();
            w.push_raw(icebreaker_stun::AttributeType(0xc001), b"optional is fine")
                .unwrap();
        },
        false,
    );
    let mut out = [0u8; 1500];
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    let msg = Message::parse(&out[..r.len]).unwrap();
    assert_eq!(msg.class(), Class::Error);
    let err = msg.get::<ErrorCode<'_>>().unwrap().unwrap();
    assert_eq!((err.code, err.reason), (420, ""));
    let unknown: Vec<_> = msg
        .get::<UnknownAttributes<'_>>()
        .unwrap()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(unknown, [icebreaker_stun::AttributeType(0x7f01)]);
}

#[test]
fn malformed_request_gets_400_and_garbage_is_dropped() {
    let mut server = BindingServer::new(ServerConfig {
        reason_phrases: true,
        ..Default::default()
    });
    let mut out = [0u8; 1500];
    // A valid Binding request header whose only attribute overruns the message.
    let mut bad = request(
        |w| {
            w.push_raw(icebreaker_stun::AttributeType(0x8022), b"abcd")
                .unwrap()
        },
        false,
    );
    bad[22..24].copy_from_slice(&100u16.to_be_bytes());
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &bad, &mut out)
        .unwrap();
    let msg = Message::parse(&out[..r.len]).unwrap();
    let err = msg.get::<ErrorCode<'_>>().unwrap().unwrap();
    assert_eq!((err.code, err.reason), (400, "Bad Request"));
    // A malformed CHANGE-REQUEST value is a 400 too.
    let bad_change = request(
        |w| w.push_raw(attributes::CHANGE_REQUEST, b"\0\0").unwrap(),
        false,
    );
    let mut s5780 = rfc5780_server();
    let r = s5780
        .respond(addr(CLIENT), addr(A1P1), &bad_change, &mut out)
        .unwrap();
    assert_eq!(
        Message::parse(&out[..r.len])
            .unwrap()
            .get::<ErrorCode<'_>>()
            .unwrap()
            .unwrap()
            .code,
        400
    );
    // Garbage, empty datagrams, responses and indications get nothing, and the server goes on.
    for junk in [&b""[..], b"\x00", &[0xff; 64], &[0u8; 20]] {
        assert!(
            server
                .respond(addr(CLIENT), addr(A1P1), junk, &mut out)
                .is_none()
        );
    }
    let mut ind = [0u8; 20];
    let n = MessageWriter::new(
        &mut ind,
        Class::Indication,
        Method::BINDING,
        TransactionId::new([1; 12]),
    )
    .unwrap()
    .finish(false)
    .unwrap();
    assert!(
        server
            .respond(addr(CLIENT), addr(A1P1), &ind[..n], &mut out)
            .is_none()
    );
    let good = request(|_| {}, false);
    assert!(
        server
            .respond(addr(CLIENT), addr(A1P1), &good, &mut out)
            .is_some()
    );
    let stats = server.stats();
    assert_eq!((stats.answered, stats.errors, stats.dropped), (1, 1, 5));
}

#[test]
fn change_request_without_alternate_address_is_420() {
    let mut server = BindingServer::new(ServerConfig::default());
    let req = request(
        |w| {
            w.push(&ChangeRequest {
                change_ip: true,
                change_port: false,
            })
            .unwrap()
        },
        false,
    );
    let mut out = [0u8; 1500];
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    let msg = Message::parse(&out[..r.len]).unwrap();
    assert_eq!(msg.get::<ErrorCode<'_>>().unwrap().unwrap().code, 420);
    let unknown: Vec<_> = msg
        .get::<UnknownAttributes<'_>>()
        .unwrap()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(unknown, [attributes::CHANGE_REQUEST]);
}

#[test]
fn rfc5780_change_request_picks_the_source_address() {
    let mut server = rfc5780_server();
    assert_eq!(
        server.listen_addresses(),
        [
            addr(A1P1),
            addr("192.0.2.10:3479"),
            addr("192.0.2.20:3478"),
            addr(A2P2)
        ]
    );
    let cases = [
        (false, false, A1P1),
        (true, false, "192.0.2.20:3478"),
        (false, true, "192.0.2.10:3479"),
        (true, true, A2P2),
    ];
    for (change_ip, change_port, expected) in cases {
        let req = request(
            |w| {
                w.push(&ChangeRequest {
                    change_ip,
                    change_port,
                })
                .unwrap()
            },
            false,
        );
        let mut out = [0u8; 1500];
        let r = server
            .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
            .unwrap();
        assert_eq!(
            r.from,
            addr(expected),
            "change ip {change_ip} port {change_port}"
        );
        let msg = Message::parse(&out[..r.len]).unwrap();
        assert_eq!(
            msg.get::<ResponseOrigin>().unwrap(),
            Some(ResponseOrigin(addr(expected)))
        );
        assert_eq!(
            msg.get::<OtherAddress>().unwrap(),
            Some(OtherAddress(addr(A2P2)))
        );
    }
    // Received on the alternate address, OTHER-ADDRESS names the primary.
    let req = request(|_| {}, false);
    let mut out = [0u8; 1500];
    let r = server
        .respond(addr(CLIENT), addr(A2P2), &req, &mut out)
        .unwrap();
    let msg = Message::parse(&out[..r.len]).unwrap();
    assert_eq!(
        msg.get::<OtherAddress>().unwrap(),
        Some(OtherAddress(addr(A1P1)))
    );
}

#[test]
fn response_port_and_padding() {
    let mut server = rfc5780_server();
    let mut out = [0u8; 1500];
    let req = request(|w| w.push(&ResponsePort(5555)).unwrap(), false);
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    assert_eq!(r.to, addr("198.51.100.5:5555"));
    // A padded request gets a response padded to the request's size, never larger.
    let zeros = [0u8; 400];
    let req = request(|w| w.push(&Padding(&zeros)).unwrap(), true);
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    assert!(
        r.len <= req.len() && r.len + 4 > req.len(),
        "{} vs {}",
        r.len,
        req.len()
    );
    Message::parse(&out[..r.len])
        .unwrap()
        .verify_fingerprint()
        .unwrap();
    // PADDING with RESPONSE-PORT is a bad request.
    let req = request(
        |w| {
            w.push(&Padding(&zeros[..8])).unwrap();
            w.push(&ResponsePort(5555)).unwrap();
        },
        false,
    );
    let r = server
        .respond(addr(CLIENT), addr(A1P1), &req, &mut out)
        .unwrap();
    assert_eq!(
        Message::parse(&out[..r.len])
            .unwrap()
            .get::<ErrorCode<'_>>()
            .unwrap()
            .unwrap()
            .code,
        400
    );
}

/// Runs discovery against the server with direct delivery and an optional filter that drops
/// answers from some server addresses, returning the result and the virtual time it took.
fn discover(
    drop_from: impl Fn(SocketAddr) -> bool,
    hairpin: bool,
) -> (icebreaker_stun::discovery::NatBehavior, Duration) {
    let mut server = rfc5780_server();
    let t0 = Instant::now();
    let mut now = t0;
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let config = DiscoveryConfig {
        test_hairpinning: hairpin,
        ..Default::default()
    };
    let mut d = NatDiscovery::new(now, addr(CLIENT), addr(A1P1), config, &mut rng);
    let mut buf = Vec::new();
    let mut out = [0u8; 1500];
    for _ in 0..1000 {
        while let Some(t) = d.poll_transmit(&mut buf) {
            assert_eq!(t.from, addr(CLIENT));
            if t.to == addr(CLIENT) {
                // Hairpinning with no NAT: the datagram comes straight back.
                d.handle_receive(now, addr(CLIENT), addr(CLIENT), &buf.clone());
                continue;
            }
            if let Some(r) = server.respond(t.from, t.to, &buf, &mut out)
                && !drop_from(r.from)
            {
                d.handle_receive(now, r.from, r.to, &out[..r.len]);
            }
        }
        if d.is_finished() {
            break;
        }
        now = d.poll_timeout().expect("a pending test has a timer");
        d.handle_timeout(now);
    }
    (d.result().expect("finished").expect("succeeded"), now - t0)
}

#[test]
fn discovery_without_nat_reports_endpoint_independent_everything() {
    let (r, took) = discover(|_| false, true);
    assert!(!r.nat);
    assert_eq!(r.mapped, addr(CLIENT));
    assert_eq!(r.other, addr(A2P2));
    assert_eq!(
        (r.mapping, r.filtering),
        (Behavior::EndpointIndependent, Behavior::EndpointIndependent)
    );
    // No NAT: hairpinning is not tested, and nothing waited for a timeout.
    assert_eq!(r.hairpinning, None);
    assert_eq!(took, Duration::ZERO);
}

#[test]
fn discovery_filtering_from_dropped_answers() {
    // Answers from the alternate IP are filtered: address-dependent filtering.
    let (r, took) = discover(|from| from.ip() != addr(A1P1).ip(), false);
    assert_eq!(r.filtering, Behavior::AddressDependent);
    assert_eq!(took, DiscoveryConfig::default().transaction.total_timeout());
    // Answers from any other port are filtered too: address-and-port-dependent filtering.
    let (r, _) = discover(|from| from != addr(A1P1), false);
    assert_eq!(r.filtering, Behavior::AddressAndPortDependent);
}

#[test]
fn discovery_reports_unreachable_server() {
    let t0 = Instant::now();
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let mut d = NatDiscovery::new(
        t0,
        addr(CLIENT),
        addr(A1P1),
        DiscoveryConfig::default(),
        &mut rng,
    );
    let mut buf = Vec::new();
    let mut sends = 0;
    while !d.is_finished() {
        while d.poll_transmit(&mut buf).is_some() {
            sends += 1;
        }
        let at = d.poll_timeout().unwrap();
        d.handle_timeout(at);
    }
    assert_eq!(sends, 4);
    assert_eq!(
        d.result(),
        Some(Err(
            icebreaker_stun::discovery::DiscoveryError::ServerUnreachable
        ))
    );
}

#[test]
fn discovery_fails_on_a_faulty_answer() {
    use icebreaker_stun::discovery::DiscoveryError;
    use icebreaker_stun::transaction::ResponseFault;
    // Test I answered with an unknown comprehension-required attribute (RFC 8489 §6.3.3), or
    // with an error that has no ERROR-CODE (§6.3.4): discovery ends at once, saying why.
    type Write = fn(&mut MessageWriter<'_>);
    let faults: [(Write, Class, ResponseFault); 2] = [
        (
            |w| {
                w.push(&XorMappedAddress(addr(CLIENT))).unwrap();
                w.push_raw(AttributeType(0x7f00), &[1, 2, 3, 4]).unwrap();
            },
            Class::Success,
            ResponseFault::UnknownAttribute(AttributeType(0x7f00)),
        ),
        (|_| {}, Class::Error, ResponseFault::NoErrorCode),
    ];
    for (write, class, fault) in faults {
        let t0 = Instant::now();
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let mut d = NatDiscovery::new(
            t0,
            addr(CLIENT),
            addr(A1P1),
            DiscoveryConfig::default(),
            &mut rng,
        );
        let mut buf = Vec::new();
        let t = d.poll_transmit(&mut buf).expect("test I");
        let tid = Message::parse(&buf).unwrap().transaction_id();
        let mut out = [0u8; 128];
        let mut w = MessageWriter::new(&mut out, class, Method::BINDING, tid).unwrap();
        write(&mut w);
        let n = w.finish(true).unwrap();
        d.handle_receive(t0, t.to, t.from, &out[..n]);
        assert_eq!(d.result(), Some(Err(DiscoveryError::BadResponse(fault))));
    }
}
