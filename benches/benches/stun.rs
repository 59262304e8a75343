//! STUN benchmarks: icebreaker-stun side by side with `stun-types`, `stun` (webrtc-rs) and
//! `stun-rs`, on the same inputs in the same run.
//!
//! - decode: the RFC 5769 sample request, every attribute read (SOFTWARE, PRIORITY,
//!   ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
//! - verify: MESSAGE-INTEGRITY (short-term key) and FINGERPRINT of the same request, each crate
//!   with its key prepared once, outside the loop, where its API allows.
//! - encode: a Binding success response with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and
//!   FINGERPRINT.
//!
//! Heap allocations per operation are counted with a counting global allocator and printed as
//! a table before the timings.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;

use benches::allocations_per_op;
use criterion::{Criterion, criterion_group};

#[global_allocator]
static GLOBAL: benches::Counting = benches::Counting;

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

/// RFC 5769 §2.1.
#[rustfmt::skip]
const SAMPLE_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
];
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// The mapped address every encoder writes (a constant, so that no encoder pays for parsing).
const MAPPED: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(192, 0, 2, 1),
    32853,
));

fn mapped() -> SocketAddr {
    MAPPED
}

// ----- icebreaker-stun ---------------------------------------------------------------------

mod ours {
    use icebreaker_stun::attributes::{
        Fingerprint, IceControlled, MessageIntegrity, Priority, Software, Username,
        XorMappedAddress,
    };
    use icebreaker_stun::integrity::Key;
    use icebreaker_stun::{Class, Integrity, Message, MessageWriter, Method, TransactionId};

    pub(crate) fn key() -> Key {
        Key::short_term(super::PASSWORD).unwrap()
    }

    pub(crate) fn decode(bytes: &[u8]) -> usize {
        let msg = Message::parse(bytes).unwrap();
        let software = msg.get::<Software<'_>>().unwrap().unwrap();
        let priority = msg.get::<Priority>().unwrap().unwrap();
        let tie = msg.get::<IceControlled>().unwrap().unwrap();
        let user = msg.get::<Username<'_>>().unwrap().unwrap();
        let mi = msg.get::<MessageIntegrity>().unwrap().unwrap();
        let fp = msg.get::<Fingerprint>().unwrap().unwrap();
        software.0.len()
            + priority.0 as usize
            + tie.0 as usize
            + user.0.len()
            + usize::from(mi.0[0])
            + fp.0 as usize
    }

    pub(crate) fn verify(bytes: &[u8], key: &Key) -> bool {
        let msg = Message::parse(bytes).unwrap();
        msg.verify_integrity(key).is_ok() && msg.verify_fingerprint().is_ok()
    }

    pub(crate) fn encode(buf: &mut [u8], key: &Key) -> usize {
        let mut w = MessageWriter::new(
            buf,
            Class::Success,
            Method::BINDING,
            TransactionId::new(super::TID),
        )
        .unwrap();
        w.push(&XorMappedAddress(super::mapped())).unwrap();
        w.finish_with_integrity(key, Integrity::Sha1, true).unwrap()
    }
}

// ----- stun-types (ystreet) ----------------------------------------------------------------

mod stun_types_peer {
    use stun_types::attribute::{
        AttributeType, Fingerprint, MessageIntegrity, Software, Username, XorMappedAddress,
    };
    use stun_types::message::{
        BINDING, IntegrityAlgorithm, IntegrityKey, Message, MessageClass, MessageType,
        MessageWrite, MessageWriteExt, MessageWriteMutSlice, ShortTermCredentials, TransactionId,
    };

    pub(crate) fn key() -> IntegrityKey {
        ShortTermCredentials::new(super::PASSWORD.to_owned()).make_key()
    }

    pub(crate) fn decode(bytes: &[u8]) -> usize {
        // `from_bytes` also checks FINGERPRINT: stun-types has no way to skip it.
        let msg = Message::from_bytes(bytes).unwrap();
        let software = msg.attribute::<Software>().unwrap();
        let priority = msg.raw_attribute(AttributeType::new(0x0024)).unwrap();
        let tie = msg.raw_attribute(AttributeType::new(0x8029)).unwrap();
        let user = msg.attribute::<Username>().unwrap();
        let mi = msg.attribute::<MessageIntegrity>().unwrap();
        let fp = msg.attribute::<Fingerprint>().unwrap();
        let p = u32::from_be_bytes(priority.value[..4].try_into().unwrap());
        let t = u64::from_be_bytes(tie.value[..8].try_into().unwrap());
        software.software().len()
            + p as usize
            + t as usize
            + user.username().len()
            + usize::from(mi.hmac()[0])
            + usize::from(fp.fingerprint()[0])
    }

    pub(crate) fn verify(bytes: &[u8], key: &IntegrityKey) -> bool {
        // `from_bytes` checks FINGERPRINT.
        let msg = Message::from_bytes(bytes).unwrap();
        msg.validate_integrity_with_key(key).is_ok()
    }

    pub(crate) fn encode(buf: &mut [u8], key: &IntegrityKey) -> usize {
        let mtype = MessageType::from_class_method(MessageClass::Success, BINDING);
        let tid = TransactionId::from(u128::from_be_bytes({
            let mut b = [0u8; 16];
            b[4..].copy_from_slice(&super::TID);
            b
        }));
        let mut w = Message::builder(mtype, tid, MessageWriteMutSlice::new(buf));
        w.add_attribute(&XorMappedAddress::new(super::mapped(), tid))
            .unwrap();
        w.add_message_integrity_with_key(key, IntegrityAlgorithm::Sha1)
            .unwrap();
        w.add_fingerprint().unwrap();
        w.finish()
    }
}

// ----- stun (webrtc-rs) --------------------------------------------------------------------

mod webrtc_peer {
    use stun::agent::TransactionId;
    use stun::attributes::{
        ATTR_FINGERPRINT, ATTR_ICE_CONTROLLED, ATTR_MESSAGE_INTEGRITY, ATTR_PRIORITY,
        ATTR_SOFTWARE, ATTR_USERNAME,
    };
    use stun::fingerprint::FINGERPRINT;
    use stun::integrity::MessageIntegrity;
    use stun::message::{BINDING_SUCCESS, Message, Setter};
    use stun::textattrs::TextAttribute;
    use stun::xoraddr::XorMappedAddress;

    pub(crate) fn key() -> MessageIntegrity {
        MessageIntegrity::new_short_term_integrity(super::PASSWORD.to_owned())
    }

    /// Decodes into a reused `Message` (the crate's intended way to avoid reallocating).
    pub(crate) fn decode(m: &mut Message, bytes: &[u8]) -> usize {
        m.raw.clear();
        m.raw.extend_from_slice(bytes);
        m.decode().unwrap();
        let software = TextAttribute::get_from_as(m, ATTR_SOFTWARE).unwrap();
        let priority = m.get(ATTR_PRIORITY).unwrap();
        let tie = m.get(ATTR_ICE_CONTROLLED).unwrap();
        let user = TextAttribute::get_from_as(m, ATTR_USERNAME).unwrap();
        let mi = m.get(ATTR_MESSAGE_INTEGRITY).unwrap();
        let fp = m.get(ATTR_FINGERPRINT).unwrap();
        software.text.len() + priority.len() + tie.len() + user.text.len() + mi.len() + fp.len()
    }

    pub(crate) fn verify(m: &mut Message, bytes: &[u8], key: &MessageIntegrity) -> bool {
        m.raw.clear();
        m.raw.extend_from_slice(bytes);
        m.decode().unwrap();
        key.check(m).is_ok() && FINGERPRINT.check(m).is_ok()
    }

    pub(crate) fn setters(key: &MessageIntegrity) -> Vec<Box<dyn Setter>> {
        let addr = super::mapped();
        vec![
            Box::new(BINDING_SUCCESS),
            Box::new(TransactionId(super::TID)),
            Box::new(XorMappedAddress {
                ip: addr.ip(),
                port: addr.port(),
            }),
            Box::new(key.clone()),
            Box::new(FINGERPRINT),
        ]
    }

    /// Encodes into a reused `Message` with setters built once.
    pub(crate) fn encode(m: &mut Message, setters: &[Box<dyn Setter>]) -> usize {
        m.build(setters).unwrap();
        m.raw.len()
    }
}

// ----- stun-rs -------------------------------------------------------------------------------

mod stun_rs_peer {
    use stun_rs::attributes::ice::{IceControlled, Priority};
    use stun_rs::attributes::stun::{
        Fingerprint, MessageIntegrity, Software, UserName, XorMappedAddress,
    };
    use stun_rs::methods::BINDING;
    use stun_rs::{
        DecoderContextBuilder, HMACKey, MessageClass, MessageDecoder, MessageDecoderBuilder,
        MessageEncoder, MessageEncoderBuilder, StunMessageBuilder, TransactionId,
    };

    pub(crate) fn key() -> HMACKey {
        HMACKey::new_short_term(super::PASSWORD).unwrap()
    }

    pub(crate) fn plain_decoder() -> MessageDecoder {
        MessageDecoderBuilder::default().build()
    }

    pub(crate) fn validating_decoder(key: &HMACKey) -> MessageDecoder {
        let ctx = DecoderContextBuilder::default()
            .with_key(key.clone())
            .with_validation()
            .build();
        MessageDecoderBuilder::default().with_context(ctx).build()
    }

    pub(crate) fn encoder() -> MessageEncoder {
        MessageEncoderBuilder::default().build()
    }

    pub(crate) fn decode(d: &MessageDecoder, bytes: &[u8]) -> usize {
        let (msg, _) = d.decode(bytes).unwrap();
        let software = msg.get::<Software>().unwrap().as_software().unwrap();
        let priority = msg.get::<Priority>().unwrap().as_priority().unwrap();
        let tie = msg
            .get::<IceControlled>()
            .unwrap()
            .as_ice_controlled()
            .unwrap();
        let user = msg.get::<UserName>().unwrap().as_user_name().unwrap();
        let mi = msg.get::<MessageIntegrity>().is_some();
        let fp = msg.get::<Fingerprint>().is_some();
        software.as_str().len()
            + priority.as_u32() as usize
            + tie.as_u64() as usize
            + user.as_str().len()
            + usize::from(mi)
            + usize::from(fp)
    }

    /// Decoding with a key and validation checks MESSAGE-INTEGRITY and FINGERPRINT.
    pub(crate) fn verify(d: &MessageDecoder, bytes: &[u8]) -> bool {
        d.decode(bytes).is_ok()
    }

    pub(crate) fn encode(e: &MessageEncoder, buf: &mut [u8], key: &HMACKey) -> usize {
        let msg = StunMessageBuilder::new(BINDING, MessageClass::SuccessResponse)
            .with_transaction_id(TransactionId::from(super::TID))
            .with_attribute(XorMappedAddress::from(super::mapped()))
            .with_attribute(MessageIntegrity::new(key.clone()))
            .with_attribute(Fingerprint::default())
            .build();
        e.encode(buf, &msg).unwrap()
    }
}

// ----- Allocation table ----------------------------------------------------------------------

fn check_and_count() {
    let bytes = &SAMPLE_REQUEST[..];
    let our_key = ours::key();
    let st_key = stun_types_peer::key();
    let wr_key = webrtc_peer::key();
    let wr_setters = webrtc_peer::setters(&wr_key);
    let rs_key = stun_rs_peer::key();
    let rs_plain = stun_rs_peer::plain_decoder();
    let rs_valid = stun_rs_peer::validating_decoder(&rs_key);
    let rs_enc = stun_rs_peer::encoder();
    let mut wr_msg = stun::message::Message::new();
    let mut buf = [0u8; 256];

    // Every crate agrees on the inputs before anything is measured.
    assert!(ours::verify(bytes, &our_key));
    assert!(stun_types_peer::verify(bytes, &st_key));
    assert!(webrtc_peer::verify(&mut wr_msg, bytes, &wr_key));
    assert!(stun_rs_peer::verify(&rs_valid, bytes));
    let n = ours::encode(&mut buf, &our_key);
    let reference = buf[..n].to_vec();
    let m = stun_types_peer::encode(&mut buf, &st_key);
    assert_eq!(&buf[..m], &reference[..]);
    webrtc_peer::encode(&mut wr_msg, &wr_setters);
    assert_eq!(wr_msg.raw, reference);
    let m = stun_rs_peer::encode(&rs_enc, &mut buf, &rs_key);
    assert_eq!(&buf[..m], &reference[..]);

    let rows: [(&str, [f64; 3]); 4] = [
        (
            "icebreaker-stun",
            [
                allocations_per_op(|| {
                    black_box(ours::decode(black_box(bytes)));
                }),
                allocations_per_op(|| {
                    black_box(ours::verify(black_box(bytes), &our_key));
                }),
                allocations_per_op(|| {
                    black_box(ours::encode(&mut buf, &our_key));
                }),
            ],
        ),
        (
            "stun-types",
            [
                allocations_per_op(|| {
                    black_box(stun_types_peer::decode(black_box(bytes)));
                }),
                allocations_per_op(|| {
                    black_box(stun_types_peer::verify(black_box(bytes), &st_key));
                }),
                allocations_per_op(|| {
                    black_box(stun_types_peer::encode(&mut buf, &st_key));
                }),
            ],
        ),
        (
            "stun (webrtc-rs)",
            [
                allocations_per_op(|| {
                    black_box(webrtc_peer::decode(&mut wr_msg, black_box(bytes)));
                }),
                allocations_per_op(|| {
                    black_box(webrtc_peer::verify(&mut wr_msg, black_box(bytes), &wr_key));
                }),
                allocations_per_op(|| {
                    black_box(webrtc_peer::encode(&mut wr_msg, &wr_setters));
                }),
            ],
        ),
        (
            "stun-rs",
            [
                allocations_per_op(|| {
                    black_box(stun_rs_peer::decode(&rs_plain, black_box(bytes)));
                }),
                allocations_per_op(|| {
                    black_box(stun_rs_peer::verify(&rs_valid, black_box(bytes)));
                }),
                allocations_per_op(|| {
                    black_box(stun_rs_peer::encode(&rs_enc, &mut buf, &rs_key));
                }),
            ],
        ),
    ];
    eprintln!();
    eprintln!("heap allocations per operation");
    eprintln!(
        "{:<18} {:>8} {:>8} {:>8}",
        "crate", "decode", "verify", "encode"
    );
    for (name, [d, v, e]) in rows {
        eprintln!("{name:<18} {d:>8.1} {v:>8.1} {e:>8.1}");
    }
    eprintln!();
}

// ----- Timings -------------------------------------------------------------------------------

fn bench_decode(c: &mut Criterion) {
    let bytes = &SAMPLE_REQUEST[..];
    let mut g = c.benchmark_group("stun/decode");
    g.bench_function("icebreaker-stun", |b| {
        b.iter(|| ours::decode(black_box(bytes)))
    });
    g.bench_function("stun-types", |b| {
        b.iter(|| stun_types_peer::decode(black_box(bytes)))
    });
    let mut m = stun::message::Message::new();
    g.bench_function("stun (webrtc-rs)", |b| {
        b.iter(|| webrtc_peer::decode(&mut m, black_box(bytes)))
    });
    let d = stun_rs_peer::plain_decoder();
    g.bench_function("stun-rs", |b| {
        b.iter(|| stun_rs_peer::decode(&d, black_box(bytes)))
    });
    g.finish();
}

fn bench_verify(c: &mut Criterion) {
    let bytes = &SAMPLE_REQUEST[..];
    let mut g = c.benchmark_group("stun/verify");
    let key = ours::key();
    g.bench_function("icebreaker-stun", |b| {
        b.iter(|| ours::verify(black_box(bytes), &key))
    });
    let key = stun_types_peer::key();
    g.bench_function("stun-types", |b| {
        b.iter(|| stun_types_peer::verify(black_box(bytes), &key))
    });
    let key = webrtc_peer::key();
    let mut m = stun::message::Message::new();
    g.bench_function("stun (webrtc-rs)", |b| {
        b.iter(|| webrtc_peer::verify(&mut m, black_box(bytes), &key))
    });
    let d = stun_rs_peer::validating_decoder(&stun_rs_peer::key());
    g.bench_function("stun-rs", |b| {
        b.iter(|| stun_rs_peer::verify(&d, black_box(bytes)))
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut buf = [0u8; 256];
    let mut g = c.benchmark_group("stun/encode");
    let key = ours::key();
    g.bench_function("icebreaker-stun", |b| {
        b.iter(|| ours::encode(black_box(&mut buf), &key))
    });
    let key = stun_types_peer::key();
    g.bench_function("stun-types", |b| {
        b.iter(|| stun_types_peer::encode(black_box(&mut buf), &key))
    });
    let setters = webrtc_peer::setters(&webrtc_peer::key());
    let mut m = stun::message::Message::new();
    g.bench_function("stun (webrtc-rs)", |b| {
        b.iter(|| webrtc_peer::encode(&mut m, &setters))
    });
    let e = stun_rs_peer::encoder();
    let key = stun_rs_peer::key();
    g.bench_function("stun-rs", |b| {
        b.iter(|| stun_rs_peer::encode(&e, black_box(&mut buf), &key))
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_verify, bench_encode);

fn main() {
    check_and_count();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
