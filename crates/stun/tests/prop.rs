//! Property tests: encode → parse round trips for every attribute and for whole messages,
//! arbitrary bytes never panic, sign-then-verify holds and a flipped covered bit fails.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use icebreaker_stun::attributes::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, AlternateDomain, AlternateServer,
    CacheTimeout, ChangeRequest, ChannelNumber, Data, DontFragment, ErrorCode, EvenPort,
    IceControlled, IceControlling, Icmp, Lifetime, MappedAddress, Nonce, OtherAddress, Padding,
    PasswordAlgorithm, PasswordAlgorithmId, PasswordAlgorithms, Priority, Realm,
    RequestedAddressFamily, RequestedTransport, ReservationToken, ResponseOrigin, ResponsePort,
    Software, UnknownAttributes, UseCandidate, Userhash, Username, XorMappedAddress,
    XorPeerAddress, XorRelayedAddress,
};
use icebreaker_stun::fuzz::{fuzz_channel_data, fuzz_decode, fuzz_integrity, fuzz_roundtrip};
use icebreaker_stun::integrity::Key;
use icebreaker_stun::{
    AttributeType, Class, Integrity, Message, MessageWriter, Method, TransactionId,
};
use proptest::prelude::*;

fn tid() -> impl Strategy<Value = TransactionId> {
    any::<[u8; 12]>().prop_map(TransactionId::new)
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::V4), Just(AddressFamily::V6)]
}

/// Text of at most `max` bytes, any Unicode.
fn text(max: usize) -> impl Strategy<Value = String> {
    chars_text(max, 200)
}

/// Text of at most `max` bytes and `chars` characters (RFC 8489: SOFTWARE and reason phrases
/// are sent with fewer than 128 characters, at most 509 bytes).
fn chars_text(max: usize, chars: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max.min(chars)).prop_map(move |chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        s
    })
}

/// Long ASCII text up to exactly `max` bytes, to reach the limits.
fn long_text(max: usize) -> impl Strategy<Value = String> {
    (0..=max).prop_map(|n| "s".repeat(n))
}

/// Encodes one attribute in a message (with FINGERPRINT), parses it, and returns the decoded
/// value of type `$ty`.
macro_rules! round_trip {
    ($value:expr, $ty:ty, $tid:expr) => {{
        let value = $value;
        let mut buf = vec![0u8; 2048];
        let mut w = MessageWriter::new(&mut buf, Class::Request, Method::BINDING, $tid).unwrap();
        w.push(&value).unwrap();
        let n = w.finish(true).unwrap();
        let msg = Message::parse(&buf[..n]).unwrap();
        msg.verify_fingerprint().unwrap();
        prop_assert_eq!(msg.attributes().count(), 2);
        let got = msg.get::<$ty>().unwrap().unwrap();
        prop_assert_eq!(got, value);
    }};
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn xor_addresses_round_trip(a in addr(), t in tid()) {
        round_trip!(XorMappedAddress(a), XorMappedAddress, t);
        round_trip!(XorPeerAddress(a), XorPeerAddress, t);
        round_trip!(XorRelayedAddress(a), XorRelayedAddress, t);
    }

    #[test]
    fn plain_addresses_round_trip(a in addr(), t in tid()) {
        round_trip!(MappedAddress(a), MappedAddress, t);
        round_trip!(AlternateServer(a), AlternateServer, t);
        round_trip!(ResponseOrigin(a), ResponseOrigin, t);
        round_trip!(OtherAddress(a), OtherAddress, t);
    }

    #[test]
    fn xor_address_differs_on_the_wire_but_not_in_value(a in addr(), t in tid()) {
        let mut plain = [0u8; 64];
        let mut xored = [0u8; 64];
        let mut w = MessageWriter::new(&mut plain, Class::Success, Method::BINDING, t).unwrap();
        w.push(&MappedAddress(a)).unwrap();
        let n = w.finish(false).unwrap();
        let mut w = MessageWriter::new(&mut xored, Class::Success, Method::BINDING, t).unwrap();
        w.push(&XorMappedAddress(a)).unwrap();
        prop_assert_eq!(w.finish(false).unwrap(), n);
        // Port XOR 0x2112, address XOR cookie (and transaction id for IPv6).
        let port = u16::from_be_bytes([xored[26], xored[27]]);
        prop_assert_eq!(port ^ 0x2112, a.port());
        prop_assert_eq!(xored[28] ^ 0x21, plain[28]);
    }

    #[test]
    fn text_attributes_round_trip(
        u in text(508),
        s in text(763),
        sw in chars_text(509, 127),
        d in long_text(255),
        t in tid(),
    ) {
        round_trip!(Username(&u), Username<'_>, t);
        round_trip!(Realm(&s), Realm<'_>, t);
        round_trip!(Nonce(&s), Nonce<'_>, t);
        round_trip!(Software(&sw), Software<'_>, t);
        round_trip!(AlternateDomain(&d), AlternateDomain<'_>, t);
    }

    #[test]
    fn long_text_attributes_round_trip(u in long_text(508), s in long_text(763), t in tid()) {
        round_trip!(Username(&u), Username<'_>, t);
        round_trip!(Nonce(&s), Nonce<'_>, t);
        round_trip!(Realm(&s), Realm<'_>, t);
    }

    #[test]
    fn byte_attributes_round_trip(b in proptest::collection::vec(any::<u8>(), 0..600), h in any::<[u8; 32]>(), t in tid()) {
        round_trip!(Data(&b), Data<'_>, t);
        round_trip!(Padding(&b), Padding<'_>, t);
        round_trip!(Userhash(h), Userhash, t);
    }

    #[test]
    fn fixed_attributes_round_trip(
        x in any::<u32>(), y in any::<u64>(), z in any::<u16>(), b in any::<u8>(),
        token in any::<[u8; 8]>(), f in family(), flags in any::<(bool, bool)>(), t in tid(),
    ) {
        round_trip!(Priority(x), Priority, t);
        round_trip!(Lifetime(x), Lifetime, t);
        round_trip!(CacheTimeout(x), CacheTimeout, t);
        round_trip!(IceControlled(y), IceControlled, t);
        round_trip!(IceControlling(y), IceControlling, t);
        round_trip!(ReservationToken(token), ReservationToken, t);
        round_trip!(ChannelNumber(z), ChannelNumber, t);
        round_trip!(ResponsePort(z), ResponsePort, t);
        round_trip!(RequestedTransport(b), RequestedTransport, t);
        round_trip!(RequestedAddressFamily(f), RequestedAddressFamily, t);
        round_trip!(AdditionalAddressFamily(f), AdditionalAddressFamily, t);
        round_trip!(EvenPort { reserve: flags.0 }, EvenPort, t);
        round_trip!(ChangeRequest { change_ip: flags.0, change_port: flags.1 }, ChangeRequest, t);
        round_trip!(Icmp { icmp_type: b, code: z as u8, error_data: x }, Icmp, t);
        round_trip!(UseCandidate, UseCandidate, t);
        round_trip!(DontFragment, DontFragment, t);
    }

    #[test]
    fn error_codes_round_trip(code in 300u16..=699, reason in chars_text(509, 127), f in family(), t in tid()) {
        round_trip!(ErrorCode { code, reason: &reason }, ErrorCode<'_>, t);
        round_trip!(AddressErrorCode { family: f, code, reason: &reason }, AddressErrorCode<'_>, t);
    }

    #[test]
    fn error_codes_outside_300_to_699_are_refused(code in prop_oneof![0u16..300, 700u16..=u16::MAX]) {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(&mut buf, Class::Error, Method::BINDING, TransactionId::default()).unwrap();
        prop_assert!(w.push(&ErrorCode::bare(code)).is_err());
        prop_assert_eq!(w.len(), 20);
    }

    #[test]
    fn lists_round_trip(
        types in proptest::collection::vec(any::<u16>(), 0..20),
        algs in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..12)), 0..5),
        t in tid(),
    ) {
        let types: Vec<AttributeType> = types.into_iter().map(AttributeType).collect();
        let mut buf = vec![0u8; 1024];
        let mut w = MessageWriter::new(&mut buf, Class::Error, Method::BINDING, t).unwrap();
        w.push(&UnknownAttributes::List(&types)).unwrap();
        let list: Vec<PasswordAlgorithm<'_>> = algs
            .iter()
            .map(|(id, p)| PasswordAlgorithm { algorithm: PasswordAlgorithmId(*id), params: p })
            .collect();
        w.push(&PasswordAlgorithms::List(&list)).unwrap();
        if let Some(first) = list.first() {
            w.push(first).unwrap();
        }
        let n = w.finish(false).unwrap();
        let msg = Message::parse(&buf[..n]).unwrap();
        let got: Vec<AttributeType> = msg.get::<UnknownAttributes<'_>>().unwrap().unwrap().iter().collect();
        prop_assert_eq!(got, types);
        let got: Vec<PasswordAlgorithm<'_>> = msg.get::<PasswordAlgorithms<'_>>().unwrap().unwrap().iter().collect();
        prop_assert_eq!(got, list.clone());
        prop_assert_eq!(msg.get::<PasswordAlgorithm<'_>>().unwrap(), list.first().copied());
    }

    /// Whole messages from a structured recipe: random attribute sets, with or without
    /// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 (or both) and FINGERPRINT.
    #[test]
    fn whole_messages_round_trip(recipe in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_roundtrip(&recipe);
    }

    #[test]
    fn whole_typed_messages_round_trip(
        class in 0u8..4,
        method in 0u16..=0xfff,
        t in tid(),
        a in addr(),
        user in text(512),
        prio in any::<u32>(),
        tie in any::<u64>(),
        code in 300u16..=699,
        mode in 0u8..4,
        fingerprint in any::<bool>(),
        password in "[ -~]{1,40}",
    ) {
        let class = [Class::Request, Class::Indication, Class::Success, Class::Error][usize::from(class)];
        let method = Method::new(method).unwrap();
        let key = Key::short_term(&password).unwrap();
        let mut buf = vec![0u8; 2048];
        let mut w = MessageWriter::new(&mut buf, class, method, t).unwrap();
        w.push(&XorMappedAddress(a)).unwrap();
        w.push(&Username(&user)).unwrap();
        w.push(&Priority(prio)).unwrap();
        w.push(&IceControlling(tie)).unwrap();
        w.push(&ErrorCode::with_reason(code)).unwrap();
        w.push(&UseCandidate).unwrap();
        let integrity = [None, Some(Integrity::Sha1), Some(Integrity::Sha256), Some(Integrity::Both)][usize::from(mode)];
        let n = match integrity {
            Some(i) => w.finish_with_integrity(&key, i, fingerprint).unwrap(),
            None => w.finish(fingerprint).unwrap(),
        };
        let msg = Message::parse(&buf[..n]).unwrap();
        prop_assert_eq!((msg.class(), msg.method(), msg.transaction_id()), (class, method, t));
        prop_assert_eq!(msg.get::<XorMappedAddress>().unwrap(), Some(XorMappedAddress(a)));
        prop_assert_eq!(msg.get::<Username<'_>>().unwrap(), Some(Username(&user)));
        prop_assert_eq!(msg.get::<Priority>().unwrap(), Some(Priority(prio)));
        prop_assert_eq!(msg.get::<IceControlling>().unwrap(), Some(IceControlling(tie)));
        prop_assert_eq!(msg.get::<ErrorCode<'_>>().unwrap(), Some(ErrorCode::with_reason(code)));
        prop_assert_eq!(msg.get::<UseCandidate>().unwrap(), Some(UseCandidate));
        prop_assert_eq!(msg.verify(&key).is_ok(), integrity.is_some());
        prop_assert_eq!(msg.verify_fingerprint().is_ok(), fingerprint);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_decode(&bytes);
        fuzz_channel_data(&bytes);
    }

    /// Arbitrary attribute soup behind a valid header: parse succeeds or fails cleanly, every
    /// getter is total.
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..150).prop_map(|mut b| { b.truncate(b.len() & !3); b }), ty in 0u16..0x4000) {
        let mut msg = Vec::with_capacity(20 + body.len());
        msg.extend_from_slice(&ty.to_be_bytes());
        msg.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        msg.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&body);
        fuzz_decode(&msg);
    }

    /// Sign then verify holds, and every flipped bit (all of them, for small messages) fails.
    #[test]
    fn sign_then_verify_and_every_flipped_bit_fails(
        password in proptest::collection::vec(any::<u8>(), 0..70),
        user in text(40),
        mode in 1u8..4,
        fingerprint in any::<bool>(),
        t in tid(),
    ) {
        let key = Key::new(&password);
        let integrity = [Integrity::Sha1, Integrity::Sha1, Integrity::Sha256, Integrity::Both][usize::from(mode)];
        let mut buf = [0u8; 256];
        let mut w = MessageWriter::new(&mut buf, Class::Request, Method::BINDING, t).unwrap();
        w.push(&Username(&user)).unwrap();
        let n = w.finish_with_integrity(&key, integrity, fingerprint).unwrap();
        let mut bytes = buf[..n].to_vec();
        // The receiver checks what the sender signed (see `Message::verify` on stripping).
        let ok = |b: &[u8]| match Message::parse(b) {
            Ok(m) => {
                (integrity == Integrity::Sha256 || m.verify_integrity(&key).is_ok())
                    && (integrity == Integrity::Sha1 || m.verify_integrity_sha256(&key).is_ok())
                    && (!fingerprint || m.verify_fingerprint().is_ok())
            }
            Err(_) => false,
        };
        prop_assert!(ok(&bytes));
        for bit in 0..n * 8 {
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
            prop_assert!(!ok(&bytes), "bit {} flipped and accepted", bit);
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
        }
    }

    #[test]
    fn integrity_fuzz_entry_holds(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzz_integrity(&data);
    }
}
