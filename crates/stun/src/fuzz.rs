//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/`, the corpus replay test
//! and the proptests. Each takes arbitrary bytes and panics only when it finds a real bug: a
//! panic inside the crate, or a broken invariant (a round trip that does not round-trip, a
//! signature that does not verify, a tampered message that does).
//!
//! Not part of the stable API.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::attributes::{
    self, AdditionalAddressFamily, AddressErrorCode, AddressFamily, AlternateDomain,
    AlternateServer, Attribute, CacheTimeout, ChangeRequest, ChannelNumber, Data, DontFragment,
    ErrorCode, EvenPort, Fingerprint, IceControlled, IceControlling, Icmp, Lifetime, MappedAddress,
    MessageIntegrity, MessageIntegritySha256, Nonce, OtherAddress, Padding, PasswordAlgorithm,
    PasswordAlgorithmId, PasswordAlgorithms, Priority, Realm, RequestedAddressFamily,
    RequestedTransport, ReservationToken, ResponseOrigin, ResponsePort, Software,
    UnknownAttributes, UseCandidate, Userhash, Username, XorMappedAddress, XorPeerAddress,
    XorRelayedAddress,
};
use crate::demux::{Protocol, classify};
use crate::integrity::Key;
use crate::{
    AttributeType, ChannelData, Class, Integrity, Message, MessageWriter, Method, RawAttribute,
    TransactionId, is_stun,
};

/// The key `fuzz_decode` verifies with (the RFC 5769 short-term password).
const FIXED_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

/// Parses `data` as a STUN message and exercises every accessor, every typed getter, the
/// attribute iterator, the 420 list and every verification.
pub fn fuzz_decode(data: &[u8]) {
    let stun = is_stun(data);
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    assert!(stun, "parse accepted what is_stun refuses");
    assert_eq!(msg.as_bytes(), data);
    let _ = (msg.class(), msg.method(), msg.transaction_id());
    let (class, method) = (msg.class(), msg.method());
    assert_eq!(
        crate::message_type(class, method),
        u16::from_be_bytes([data[0], data[1]])
    );

    // Every visible attribute lies inside the message, at the offset it claims.
    let mut count = 0usize;
    for raw in msg.attributes() {
        count += 1;
        assert!(count <= data.len() / 4, "more attributes than 4-byte words");
        let start = raw.offset + 4;
        assert_eq!(data.get(start..start + raw.value.len()), Some(raw.value));
        assert_eq!(
            u16::from_be_bytes([data[raw.offset], data[raw.offset + 1]]),
            raw.attr_type.0
        );
        assert_eq!(
            msg.get_raw(raw.attr_type).map(|r| r.attr_type),
            Some(raw.attr_type)
        );
        assert!(msg.has(raw.attr_type));
    }
    let _ = msg
        .unknown_comprehension_required(attributes::is_known)
        .count();
    let _ = format!("{msg:?}");

    all_getters(&msg);

    let key = Key::new(FIXED_PASSWORD);
    let _ = msg.verify_integrity(&key);
    let _ = msg.verify_integrity_sha256(&key);
    let _ = msg.verify(&key);
    let _ = msg.verify_fingerprint();
    assert_eq!(
        msg.has_integrity(),
        msg.get_raw(attributes::MESSAGE_INTEGRITY).is_some()
    );
    assert_eq!(
        msg.has_fingerprint(),
        msg.get_raw(attributes::FINGERPRINT).is_some()
    );
}

/// Calls `get` for every attribute type the crate knows, and walks the lists.
fn all_getters(msg: &Message<'_>) {
    macro_rules! get_all {
        ($($t:ty),* $(,)?) => { $( let _ = msg.get::<$t>(); )* };
    }
    get_all!(
        MappedAddress,
        XorMappedAddress,
        XorPeerAddress,
        XorRelayedAddress,
        AlternateServer,
        ResponseOrigin,
        OtherAddress,
        Username<'_>,
        Realm<'_>,
        Nonce<'_>,
        Software<'_>,
        AlternateDomain<'_>,
        Data<'_>,
        Padding<'_>,
        Userhash,
        MessageIntegrity,
        MessageIntegritySha256<'_>,
        Fingerprint,
        Priority,
        IceControlled,
        IceControlling,
        Lifetime,
        CacheTimeout,
        ReservationToken,
        ChannelNumber,
        ResponsePort,
        RequestedTransport,
        RequestedAddressFamily,
        AdditionalAddressFamily,
        EvenPort,
        ChangeRequest,
        Icmp,
        UseCandidate,
        DontFragment,
        ErrorCode<'_>,
        AddressErrorCode<'_>,
        PasswordAlgorithm<'_>,
    );
    if let Ok(Some(u)) = msg.get::<UnknownAttributes<'_>>() {
        let _ = u.iter().count();
    }
    if let Ok(Some(p)) = msg.get::<PasswordAlgorithms<'_>>() {
        let _ = p.iter().count();
    }
}

// ----- Structure-aware round trip --------------------------------------------------------

/// Reads a recipe from fuzzer bytes; running out of bytes yields zeros.
struct Recipe<'a> {
    data: &'a [u8],
}

impl<'a> Recipe<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.iter_mut().for_each(|b| *b = self.u8());
        out
    }

    /// Up to `max` bytes, the count taken from the recipe.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let want = usize::from(self.u16()) % (max + 1);
        let n = want.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A string of at most `max` bytes (the recipe's bytes, made valid UTF-8).
    fn text(&mut self, max: usize) -> String {
        let mut s = String::from_utf8_lossy(self.bytes(max)).into_owned();
        let mut n = s.len().min(max);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
        s
    }

    fn addr(&mut self) -> SocketAddr {
        let port = self.u16();
        if self.u8() & 1 == 0 {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::from(self.array::<4>())), port)
        } else {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::from(self.array::<16>())), port)
        }
    }

    fn family(&mut self) -> AddressFamily {
        if self.u8() & 1 == 0 {
            AddressFamily::V4
        } else {
            AddressFamily::V6
        }
    }

    fn error_code(&mut self) -> u16 {
        300 + self.u16() % 400
    }
}

/// One attribute of a recipe, owning its value.
#[derive(Debug, Clone)]
enum Item {
    Addr(u8, SocketAddr),
    Text(u8, String),
    Bytes(u8, Vec<u8>),
    Userhash([u8; 32]),
    U32(u8, u32),
    U64(u8, u64),
    Token([u8; 8]),
    U16(u8, u16),
    Transport(u8),
    Family(u8, AddressFamily),
    EvenPort(bool),
    ChangeRequest(bool, bool),
    Icmp(u8, u8, u32),
    Flag(u8),
    ErrorCode(u16, String),
    AddressErrorCode(AddressFamily, u16, String),
    Unknown(Vec<AttributeType>),
    PasswordAlgorithm(u16, Vec<u8>),
    PasswordAlgorithms(Vec<(u16, Vec<u8>)>),
    Raw(u16, Vec<u8>),
}

impl Item {
    fn read(r: &mut Recipe<'_>) -> Self {
        match r.u8() % 20 {
            0 => Self::Addr(r.u8() % 7, r.addr()),
            1 => {
                let kind = r.u8() % 5;
                let max = if kind == 0 {
                    attributes::MAX_USERNAME_LEN
                } else {
                    attributes::MAX_TEXT_LEN
                };
                Self::Text(kind, r.text(max))
            }
            2 => Self::Bytes(r.u8() % 2, r.bytes(600).to_vec()),
            3 => Self::Userhash(r.array()),
            4 => Self::U32(r.u8() % 3, r.u32()),
            5 => Self::U64(r.u8() % 2, r.u64()),
            6 => Self::Token(r.array()),
            7 => Self::U16(r.u8() % 2, r.u16()),
            8 => Self::Transport(r.u8()),
            9 => Self::Family(r.u8() % 2, r.family()),
            10 => Self::EvenPort(r.u8() & 1 == 1),
            11 => {
                let b = r.u8();
                Self::ChangeRequest(b & 1 == 1, b & 2 == 2)
            }
            12 => Self::Icmp(r.u8(), r.u8(), r.u32()),
            13 => Self::Flag(r.u8() % 2),
            14 => Self::ErrorCode(r.error_code(), r.text(attributes::MAX_TEXT_LEN)),
            15 => {
                Self::AddressErrorCode(r.family(), r.error_code(), r.text(attributes::MAX_TEXT_LEN))
            }
            16 => {
                let n = usize::from(r.u8() % 8);
                Self::Unknown((0..n).map(|_| AttributeType(r.u16())).collect())
            }
            17 => Self::PasswordAlgorithm(r.u16(), r.bytes(16).to_vec()),
            18 => {
                let n = usize::from(r.u8() % 4);
                Self::PasswordAlgorithms((0..n).map(|_| (r.u16(), r.bytes(12).to_vec())).collect())
            }
            _ => Self::Raw(r.u16(), r.bytes(300).to_vec()),
        }
    }

    fn push(&self, w: &mut MessageWriter<'_>) -> Result<(), crate::EncodeError> {
        match self {
            Self::Addr(k, a) => match k {
                0 => w.push(&MappedAddress(*a)),
                1 => w.push(&XorMappedAddress(*a)),
                2 => w.push(&XorPeerAddress(*a)),
                3 => w.push(&XorRelayedAddress(*a)),
                4 => w.push(&AlternateServer(*a)),
                5 => w.push(&ResponseOrigin(*a)),
                _ => w.push(&OtherAddress(*a)),
            },
            Self::Text(k, s) => match k {
                0 => w.push(&Username(s)),
                1 => w.push(&Realm(s)),
                2 => w.push(&Nonce(s)),
                3 => w.push(&Software(s)),
                _ => w.push(&AlternateDomain(s)),
            },
            Self::Bytes(0, b) => w.push(&Data(b)),
            Self::Bytes(_, b) => w.push(&Padding(b)),
            Self::Userhash(h) => w.push(&Userhash(*h)),
            Self::U32(0, v) => w.push(&Priority(*v)),
            Self::U32(1, v) => w.push(&Lifetime(*v)),
            Self::U32(_, v) => w.push(&CacheTimeout(*v)),
            Self::U64(0, v) => w.push(&IceControlled(*v)),
            Self::U64(_, v) => w.push(&IceControlling(*v)),
            Self::Token(t) => w.push(&ReservationToken(*t)),
            Self::U16(0, v) => w.push(&ChannelNumber(*v)),
            Self::U16(_, v) => w.push(&ResponsePort(*v)),
            Self::Transport(t) => w.push(&RequestedTransport(*t)),
            Self::Family(0, f) => w.push(&RequestedAddressFamily(*f)),
            Self::Family(_, f) => w.push(&AdditionalAddressFamily(*f)),
            Self::EvenPort(reserve) => w.push(&EvenPort { reserve: *reserve }),
            Self::ChangeRequest(change_ip, change_port) => w.push(&ChangeRequest {
                change_ip: *change_ip,
                change_port: *change_port,
            }),
            Self::Icmp(icmp_type, code, error_data) => w.push(&Icmp {
                icmp_type: *icmp_type,
                code: *code,
                error_data: *error_data,
            }),
            Self::Flag(0) => w.push(&UseCandidate),
            Self::Flag(_) => w.push(&DontFragment),
            Self::ErrorCode(code, reason) => w.push(&ErrorCode {
                code: *code,
                reason,
            }),
            Self::AddressErrorCode(family, code, reason) => w.push(&AddressErrorCode {
                family: *family,
                code: *code,
                reason,
            }),
            Self::Unknown(list) => w.push(&UnknownAttributes::List(list)),
            Self::PasswordAlgorithm(id, params) => w.push(&PasswordAlgorithm {
                algorithm: PasswordAlgorithmId(*id),
                params,
            }),
            Self::PasswordAlgorithms(list) => {
                let algs: Vec<PasswordAlgorithm<'_>> = list
                    .iter()
                    .map(|(id, p)| PasswordAlgorithm {
                        algorithm: PasswordAlgorithmId(*id),
                        params: p,
                    })
                    .collect();
                w.push(&PasswordAlgorithms::List(&algs))
            }
            Self::Raw(t, v) => w.push_raw(AttributeType(*t), v),
        }
    }

    /// Asserts that `raw`, read back from the wire, is this item.
    fn check(&self, raw: RawAttribute<'_>, tid: &TransactionId) {
        fn dec<'a, A: Attribute<'a>>(raw: RawAttribute<'a>, tid: &TransactionId) -> A {
            assert_eq!(raw.attr_type, A::TYPE, "attribute type changed");
            match A::decode(raw.value, tid) {
                Ok(a) => a,
                Err(e) => panic!("{:?} does not decode: {e}", A::TYPE),
            }
        }
        match self {
            Self::Addr(k, a) => {
                let got = match k {
                    0 => dec::<MappedAddress>(raw, tid).0,
                    1 => dec::<XorMappedAddress>(raw, tid).0,
                    2 => dec::<XorPeerAddress>(raw, tid).0,
                    3 => dec::<XorRelayedAddress>(raw, tid).0,
                    4 => dec::<AlternateServer>(raw, tid).0,
                    5 => dec::<ResponseOrigin>(raw, tid).0,
                    _ => dec::<OtherAddress>(raw, tid).0,
                };
                assert_eq!(got, *a);
            }
            Self::Text(k, s) => {
                let got = match k {
                    0 => dec::<Username<'_>>(raw, tid).0,
                    1 => dec::<Realm<'_>>(raw, tid).0,
                    2 => dec::<Nonce<'_>>(raw, tid).0,
                    3 => dec::<Software<'_>>(raw, tid).0,
                    _ => dec::<AlternateDomain<'_>>(raw, tid).0,
                };
                assert_eq!(got, s);
            }
            Self::Bytes(0, b) => assert_eq!(dec::<Data<'_>>(raw, tid).0, &b[..]),
            Self::Bytes(_, b) => assert_eq!(dec::<Padding<'_>>(raw, tid).0, &b[..]),
            Self::Userhash(h) => assert_eq!(dec::<Userhash>(raw, tid).0, *h),
            Self::U32(0, v) => assert_eq!(dec::<Priority>(raw, tid).0, *v),
            Self::U32(1, v) => assert_eq!(dec::<Lifetime>(raw, tid).0, *v),
            Self::U32(_, v) => assert_eq!(dec::<CacheTimeout>(raw, tid).0, *v),
            Self::U64(0, v) => assert_eq!(dec::<IceControlled>(raw, tid).0, *v),
            Self::U64(_, v) => assert_eq!(dec::<IceControlling>(raw, tid).0, *v),
            Self::Token(t) => assert_eq!(dec::<ReservationToken>(raw, tid).0, *t),
            Self::U16(0, v) => assert_eq!(dec::<ChannelNumber>(raw, tid).0, *v),
            Self::U16(_, v) => assert_eq!(dec::<ResponsePort>(raw, tid).0, *v),
            Self::Transport(t) => assert_eq!(dec::<RequestedTransport>(raw, tid).0, *t),
            Self::Family(0, f) => assert_eq!(dec::<RequestedAddressFamily>(raw, tid).0, *f),
            Self::Family(_, f) => assert_eq!(dec::<AdditionalAddressFamily>(raw, tid).0, *f),
            Self::EvenPort(r) => assert_eq!(dec::<EvenPort>(raw, tid).reserve, *r),
            Self::ChangeRequest(ip, port) => {
                assert_eq!(
                    dec::<ChangeRequest>(raw, tid),
                    ChangeRequest {
                        change_ip: *ip,
                        change_port: *port
                    }
                );
            }
            Self::Icmp(t, c, d) => assert_eq!(
                dec::<Icmp>(raw, tid),
                Icmp {
                    icmp_type: *t,
                    code: *c,
                    error_data: *d
                }
            ),
            Self::Flag(0) => assert_eq!(dec::<UseCandidate>(raw, tid), UseCandidate),
            Self::Flag(_) => assert_eq!(dec::<DontFragment>(raw, tid), DontFragment),
            Self::ErrorCode(code, reason) => {
                assert_eq!(
                    dec::<ErrorCode<'_>>(raw, tid),
                    ErrorCode {
                        code: *code,
                        reason
                    }
                );
            }
            Self::AddressErrorCode(family, code, reason) => assert_eq!(
                dec::<AddressErrorCode<'_>>(raw, tid),
                AddressErrorCode {
                    family: *family,
                    code: *code,
                    reason
                }
            ),
            Self::Unknown(list) => {
                let got: Vec<AttributeType> =
                    dec::<UnknownAttributes<'_>>(raw, tid).iter().collect();
                assert_eq!(&got, list);
            }
            Self::PasswordAlgorithm(id, params) => assert_eq!(
                dec::<PasswordAlgorithm<'_>>(raw, tid),
                PasswordAlgorithm {
                    algorithm: PasswordAlgorithmId(*id),
                    params
                }
            ),
            Self::PasswordAlgorithms(list) => {
                let got: Vec<(u16, Vec<u8>)> = dec::<PasswordAlgorithms<'_>>(raw, tid)
                    .iter()
                    .map(|a| (a.algorithm.0, a.params.to_vec()))
                    .collect();
                assert_eq!(&got, list);
            }
            Self::Raw(t, v) => {
                assert_eq!(raw.attr_type, AttributeType(*t));
                assert_eq!(raw.value, &v[..]);
            }
        }
    }
}

fn class_of(b: u8) -> Class {
    match b & 3 {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    }
}

fn integrity_of(b: u8) -> Option<Integrity> {
    match b % 4 {
        0 => None,
        1 => Some(Integrity::Sha1),
        2 => Some(Integrity::Sha256),
        _ => Some(Integrity::Both),
    }
}

/// The recipe of one message.
struct Plan {
    class: Class,
    method: Method,
    tid: TransactionId,
    integrity: Option<Integrity>,
    fingerprint: bool,
}

/// Writes a message from `items` into `buf`, which has room for the integrity attributes
/// beyond `room`. Items that do not fit in `room` are left out (and removed from `items`);
/// a push that fails must leave the writer as it was. Returns the message length.
fn write(buf: &mut [u8], room: usize, plan: &Plan, items: &mut Vec<Item>, key: &Key) -> usize {
    // Pass 1: which items fit in `room`.
    let mut w = MessageWriter::new(&mut buf[..room], plan.class, plan.method, plan.tid)
        .expect("header fits");
    items.retain(|item| item.push(&mut w).is_ok());
    let plain = w
        .finish(false)
        .expect("finish without attributes cannot fail");
    // Pass 2: the same items, then integrity and fingerprint.
    let mut w = MessageWriter::new(buf, plan.class, plan.method, plan.tid).expect("header fits");
    for item in items.iter() {
        item.push(&mut w)
            .expect("an item that fitted once fits again");
    }
    assert_eq!(w.len(), plain, "a failed push changed the message");
    let n = match plan.integrity {
        Some(i) => w.finish_with_integrity(key, i, plan.fingerprint),
        None => w.finish(plan.fingerprint),
    };
    match n {
        Ok(n) => n,
        Err(e) => panic!("finish failed in a buffer with room: {e}"),
    }
}

/// Reads a message recipe from `data`, encodes it, parses it back and checks that every
/// attribute, the integrity and the fingerprint come back as written, and that re-encoding the
/// parsed attributes reproduces the bytes.
pub fn fuzz_roundtrip(data: &[u8]) {
    let mut r = Recipe { data };
    let flags = r.u8();
    let plan = Plan {
        class: class_of(flags),
        integrity: integrity_of(flags >> 2),
        fingerprint: flags & 0x10 != 0,
        method: Method::new(r.u16() & 0xfff).unwrap_or(Method::BINDING),
        tid: TransactionId::new(r.array()),
    };
    let Plan {
        class,
        method,
        tid,
        integrity,
        fingerprint,
    } = plan;
    let key = Key::new(r.bytes(64));
    let mut items = Vec::new();
    while !r.is_empty() && items.len() < 64 {
        let item = Item::read(&mut r);
        // MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are only written by `finish*`.
        if let Item::Raw(0x0008 | 0x001c | 0x8028, _) = item {
            continue;
        }
        items.push(item);
    }

    // Leave room for the integrity attributes so that `finish*` cannot run out of space.
    let room = 4096;
    let mut buf = vec![0u8; room + 80];
    let n = write(&mut buf, room, &plan, &mut items, &key);
    let bytes = &buf[..n];

    let msg = match Message::parse(bytes) {
        Ok(m) => m,
        Err(e) => panic!("our own message does not parse: {e}"),
    };
    assert_eq!(
        (msg.class(), msg.method(), msg.transaction_id()),
        (class, method, tid)
    );
    let mut attrs = msg.attributes();
    for item in &items {
        let raw = attrs.next().expect("attribute missing");
        item.check(raw, &tid);
    }
    let tail: Vec<AttributeType> = attrs.map(|a| a.attr_type).collect();
    let mut expected_tail = Vec::new();
    if matches!(integrity, Some(Integrity::Sha1 | Integrity::Both)) {
        expected_tail.push(attributes::MESSAGE_INTEGRITY);
    }
    if matches!(integrity, Some(Integrity::Sha256 | Integrity::Both)) {
        expected_tail.push(attributes::MESSAGE_INTEGRITY_SHA256);
    }
    if fingerprint {
        expected_tail.push(attributes::FINGERPRINT);
    }
    assert_eq!(tail, expected_tail);
    match integrity {
        Some(_) => assert_eq!(msg.verify(&key), Ok(())),
        None => assert_eq!(msg.verify(&key), Err(crate::IntegrityError::Absent)),
    }
    if matches!(integrity, Some(Integrity::Sha1 | Integrity::Both)) {
        assert_eq!(msg.verify_integrity(&key), Ok(()));
    }
    if matches!(integrity, Some(Integrity::Sha256 | Integrity::Both)) {
        assert_eq!(msg.verify_integrity_sha256(&key), Ok(()));
    }
    assert_eq!(msg.verify_fingerprint().is_ok(), fingerprint);
    fuzz_decode(bytes);

    // Re-encode from the parsed view: the same bytes come out.
    let mut again = vec![0u8; n];
    let mut w = MessageWriter::new(&mut again, class, method, tid).expect("header fits");
    for raw in msg.attributes().take(items.len()) {
        w.push_raw(raw.attr_type, raw.value)
            .expect("re-encoding fits");
    }
    let m = match integrity {
        Some(i) => w.finish_with_integrity(&key, i, fingerprint),
        None => w.finish(fingerprint),
    }
    .expect("re-encoding fits");
    assert_eq!(m, n);
    assert_eq!(&again[..], bytes, "re-encoding differs");
}

// ----- Integrity -------------------------------------------------------------------------

/// Whether a message is accepted by a receiver that expects what the sender signed: it
/// parses, each integrity attribute the sender added verifies with `key`, and the fingerprint
/// checks out when the sender added one. (Checking only [`Message::verify`] is not enough when
/// both integrity attributes were sent: a flipped type bit turns MESSAGE-INTEGRITY-SHA256 into
/// an ignored attribute and `verify` falls back to MESSAGE-INTEGRITY, so a receiver that
/// negotiated SHA-256 must insist on it.)
fn accepted(bytes: &[u8], key: &Key, integrity: Integrity, fingerprint: bool) -> bool {
    let Ok(msg) = Message::parse(bytes) else {
        return false;
    };
    let sha1 = matches!(integrity, Integrity::Sha1 | Integrity::Both);
    let sha256 = matches!(integrity, Integrity::Sha256 | Integrity::Both);
    (!sha1 || msg.verify_integrity(key).is_ok())
        && (!sha256 || msg.verify_integrity_sha256(key).is_ok())
        && (!fingerprint || msg.verify_fingerprint().is_ok())
}

/// Signs a message whose key and content come from `data`, verifies it, then flips bits chosen
/// by `data` (and the first and last bit of every 4-byte word) and checks every flip is caught.
pub fn fuzz_integrity(data: &[u8]) {
    let mut r = Recipe { data };
    let flags = r.u8();
    let integrity = integrity_of(flags).unwrap_or(Integrity::Sha1);
    let fingerprint = flags & 0x10 != 0;
    let key = Key::new(r.bytes(80));
    let tid = TransactionId::new(r.array());
    let username = r.text(64);
    // OpaqueString (RFC 8265) on arbitrary text: no panic, and what it yields, it takes back
    // unchanged (enforcement is idempotent).
    if let Ok(once) = crate::integrity::opaque_string(&username) {
        assert_eq!(
            crate::integrity::opaque_string(&once).as_deref(),
            Ok(&*once),
            "OpaqueString is not idempotent on {username:?}"
        );
    }
    let payload = r.bytes(256);
    let mut buf = [0u8; 512];
    let mut w = MessageWriter::new(&mut buf, class_of(flags >> 5), Method::BINDING, tid)
        .expect("header fits");
    w.push(&Username(&username)).expect("fits");
    w.push(&Data(payload)).expect("fits");
    let n = w
        .finish_with_integrity(&key, integrity, fingerprint)
        .expect("fits");
    let mut bytes = buf[..n].to_vec();
    assert!(
        accepted(&bytes, &key, integrity, fingerprint),
        "a message we signed does not verify"
    );

    let bits = n * 8;
    let mut flips: Vec<usize> = (0..n / 4).flat_map(|w| [w * 32, w * 32 + 31]).collect();
    while !r.is_empty() && flips.len() < 96 {
        flips.push(usize::from(r.u16()) % bits);
    }
    for bit in flips {
        bytes[bit / 8] ^= 0x80 >> (bit % 8);
        assert!(
            !accepted(&bytes, &key, integrity, fingerprint),
            "bit {bit} flipped and still accepted"
        );
        bytes[bit / 8] ^= 0x80 >> (bit % 8);
    }
    // Another key does not verify it.
    let other = Key::new(&[data.len() as u8; 3]);
    if let Ok(msg) = Message::parse(&bytes) {
        let _ = msg.verify(&other);
    }
}

// ----- ChannelData and demultiplexing ----------------------------------------------------

/// Parses `data` as ChannelData (datagram and stream framing) and re-encodes what it finds;
/// checks demultiplexing agrees with the parsers; encodes and parses a frame built from `data`.
pub fn fuzz_channel_data(data: &[u8]) {
    let proto = classify(data);
    if let Ok(cd) = ChannelData::parse(data) {
        assert_eq!(proto, Protocol::ChannelData);
        let len = cd.data().len();
        assert!(data.len() >= 4 + len && data.len() <= 4 + ((len + 3) & !3));
        let mut out = vec![0u8; 4 + ((len + 3) & !3)];
        let padded = data.len() > 4 + len;
        let n = ChannelData::encode(cd.channel(), cd.data(), padded, &mut out).expect("fits");
        assert_eq!(&out[..4 + len], &data[..4 + len]);
        assert!(n == data.len() || (padded && n == 4 + ((len + 3) & !3)));
    }
    let mut rest = data;
    let mut frames = 0;
    while let Ok(Some((cd, used))) = ChannelData::parse_stream(rest) {
        assert!(used >= 4 && used <= rest.len() && used % 4 == 0);
        assert_eq!(used, 4 + ((cd.data().len() + 3) & !3));
        assert_eq!(&rest[4..4 + cd.data().len()], cd.data());
        rest = &rest[used..];
        frames += 1;
        assert!(frames <= data.len() / 4);
    }
    if Message::parse(data).is_ok() && data[0] <= 3 {
        assert_eq!(proto, Protocol::Stun);
    }

    // Build a frame from the input and read it back, both ways.
    let mut r = Recipe { data };
    let channel = 0x4000 | (r.u16() & 0x0fff);
    let pad = r.u8() & 1 == 1;
    let payload = r.bytes(1024);
    let mut out = vec![0u8; 4 + payload.len() + 3];
    let n = ChannelData::encode(channel, payload, pad, &mut out).expect("fits");
    let cd = ChannelData::parse(&out[..n]).expect("our frame parses");
    assert_eq!((cd.channel(), cd.data()), (channel, payload));
    assert_eq!(classify(&out[..n]), Protocol::ChannelData);
    if pad {
        let (cd, used) = ChannelData::parse_stream(&out[..n])
            .expect("ok")
            .expect("complete");
        assert_eq!((cd.channel(), cd.data(), used), (channel, payload, n));
    }
}

// ----- The Binding server, RFC 5780 discovery and client transactions --------------------

fn v4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port)
}

/// Feeds `data` to a [`BindingServer`](crate::server::BindingServer) as datagrams (a selector
/// byte, a length byte, the bytes) from a few clients to each of its addresses, with the
/// configuration picked by the first byte. Checks that every answer is a well-formed STUN
/// response to the request, at most [`MAX_REPLY`](crate::server::MAX_REPLY) bytes, sent from
/// one of the server's addresses to the requester's IP.
pub fn fuzz_server(data: &[u8]) {
    use crate::server::{BindingServer, MAX_REPLY, ServerConfig};

    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let primary = v4([198, 51, 100, 1], 3478);
    let mut config = if flags & 1 != 0 {
        ServerConfig::rfc5780(primary, v4([198, 51, 100, 2], 3479))
    } else {
        ServerConfig::default()
    };
    config.software = (flags & 2 != 0).then(|| "icebreaker fuzz".to_string());
    config.reason_phrases = flags & 4 != 0;
    config.mapped_address = flags & 8 != 0;
    let mut server = BindingServer::new(config);
    let mut listen = server.listen_addresses();
    if listen.is_empty() {
        listen.push(primary);
    }
    let clients = [
        v4([203, 0, 113, 7], 5000),
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
            5000,
        ),
        SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(203, 0, 113, 8).to_ipv6_mapped()),
            6000,
        ),
        v4([203, 0, 113, 9], 1),
    ];
    let mut out = [0u8; 2048];
    while let [select, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let from = clients[usize::from(select & 3)];
        let to = listen[usize::from(select >> 2) % listen.len()];
        let Some(reply) = server.respond(from, to, datagram, &mut out) else {
            continue;
        };
        assert!(reply.len <= MAX_REPLY, "a reply of {} bytes", reply.len);
        assert!(listen.contains(&reply.from), "sent from {}", reply.from);
        assert_eq!(reply.to.ip(), from.ip(), "sent to another host");
        let answer = Message::parse(&out[..reply.len]).expect("the server writes valid STUN");
        assert!(answer.class().is_response());
        // A request whose attributes do not parse still gets its 400: the header is enough.
        let message_type = u16::from_be_bytes([datagram[0], datagram[1]]);
        assert_eq!(message_type & 0x0110, 0, "a request's class bits");
        assert_eq!(&answer.transaction_id().as_bytes()[..], &datagram[8..20]);
    }
}

/// Runs RFC 5780 NAT discovery against a real RFC 5780
/// [`BindingServer`](crate::server::BindingServer) whose answers `data` steers. Each byte decides what becomes
/// of the request in flight: answered through one of three mappings (two NAT ports, or no NAT),
/// lost, replaced by bytes from the input (with or without the request's transaction id),
/// looped back as if hairpinned, or answered twice; and how much time passes. Then nothing
/// answers any more. Checks: discovery sends only from its socket to the server's addresses,
/// and it always ends, with a result that describes its own socket.
pub fn fuzz_discovery<R: rand_core::CryptoRng + ?Sized>(epoch: Instant, rng: &mut R, data: &[u8]) {
    use crate::discovery::{DiscoveryConfig, NatDiscovery};
    use crate::server::{BindingServer, MAX_REPLY, ServerConfig};

    let (a1, a2) = (v4([198, 51, 100, 1], 3478), v4([198, 51, 100, 2], 3479));
    let local = v4([10, 0, 0, 2], 5000);
    let mappings = [
        v4([203, 0, 113, 7], 5000),
        v4([203, 0, 113, 7], 6000),
        local,
    ];
    let mut now = epoch;
    let mut discovery = NatDiscovery::new(now, local, a1, DiscoveryConfig::default(), rng);
    let mut server = BindingServer::new(ServerConfig::rfc5780(a1, a2));
    let listen = server.listen_addresses();
    let mut request = Vec::new();
    let mut out = [0u8; MAX_REPLY];
    let mut rest = data;
    let mut forged = false;
    while let [op, tail @ ..] = rest {
        rest = tail;
        if discovery.is_finished() {
            break;
        }
        if let Some(t) = discovery.poll_transmit(&mut request) {
            assert_eq!(t.from, local);
            if !listen.contains(&t.to) {
                // The hairpinning test: to the mapped address, which only answers (forged)
                // responses could have made something else than one of ours.
                assert!(forged || mappings.contains(&t.to), "a request to {}", t.to);
                if op & 1 == 1 {
                    discovery.handle_receive(now, t.to, local, &request);
                }
            } else {
                match op & 7 {
                    m @ (0..=2 | 7) => {
                        let from = mappings[usize::from(m % 3)];
                        if let Some(r) = server.respond(from, t.to, &request, &mut out) {
                            discovery.handle_receive(now, r.from, local, &out[..r.len]);
                            if m == 7 {
                                discovery.handle_receive(now, r.from, local, &out[..r.len]);
                            }
                        }
                    }
                    3 => {} // lost
                    4 | 5 => {
                        let [len, tail @ ..] = rest else { break };
                        let n = usize::from(*len).min(tail.len());
                        let (bytes, next) = tail.split_at(n);
                        rest = next;
                        let mut bytes = bytes.to_vec();
                        if let (Some(slot), Some(tid), 5) =
                            (bytes.get_mut(8..20), request.get(8..20), op & 7)
                        {
                            slot.copy_from_slice(tid);
                        }
                        forged = true;
                        discovery.handle_receive(now, t.to, local, &bytes);
                    }
                    // The request itself comes back, as a hairpinning NAT would return it.
                    _ => discovery.handle_receive(now, mappings[0], local, &request),
                }
            }
        }
        now += Duration::from_millis(u64::from(op >> 3) * 50);
        discovery.handle_timeout(now);
    }
    // Nothing answers any more: every test times out, so discovery ends.
    for _ in 0..256 {
        if discovery.is_finished() {
            break;
        }
        while discovery.poll_transmit(&mut request).is_some() {}
        match discovery.poll_timeout() {
            Some(at) => {
                now = now.max(at);
                discovery.handle_timeout(now);
            }
            None => break,
        }
    }
    assert!(discovery.is_finished(), "discovery still running");
    assert_eq!(discovery.poll_transmit(&mut request), None);
    if let Some(Ok(b)) = discovery.result() {
        assert_eq!(b.local, local);
    }
}

/// Drives a [`ClientTransaction`](crate::transaction::ClientTransaction) with a configuration
/// and responses taken from `data`, time jumping forward between them, then lets it run out.
/// Checks: it never sends more than Rc times (once over a reliable transport), a finished
/// transaction sends nothing and sets no timer, only a response with the request's transaction
/// id completes it, and with no answer it times out exactly at
/// [`total_timeout`](crate::transaction::TransactionConfig::total_timeout) after it started.
pub fn fuzz_transaction(epoch: Instant, data: &[u8]) {
    use crate::transaction::{ClientTransaction, TransactionConfig, TransactionState};

    let mut r = Recipe { data };
    let config = TransactionConfig {
        rto: Duration::from_millis(1 + u64::from(r.u16())),
        max_sends: u32::from(r.u8() % 12),
        max_rto: (r.u8() & 1 == 1).then(|| Duration::from_millis(u64::from(r.u16()))),
        last_wait: u32::from(r.u8() % 32),
        reliable: r.u8() & 1 == 1,
        reliable_timeout: Duration::from_millis(u64::from(r.u16()) * 10),
    };
    let tid = TransactionId::new(r.array());
    let mut request = [0u8; 20];
    let n = MessageWriter::new(&mut request, Class::Request, Method::BINDING, tid)
        .and_then(|w| w.finish(false))
        .expect("a bare Binding request fits in 20 bytes");
    let to = v4([192, 0, 2, 1], 3478);
    let mut tx = ClientTransaction::new(epoch, to, request[..n].to_vec(), config)
        .expect("our request parses");
    let most = if config.reliable {
        1
    } else {
        config.max_sends.max(1)
    };
    let mut now = epoch;
    let mut answered = false;
    let check = |tx: &mut ClientTransaction, now: Instant, answered: bool| {
        let before = tx.poll_timeout();
        let was_pending = !tx.is_finished();
        tx.handle_timeout(now);
        if was_pending && tx.state() == TransactionState::TimedOut {
            assert!(!answered);
            assert_eq!(before, Some(epoch + config.total_timeout()), "{config:?}");
        }
        while tx.poll_transmit().is_some() {}
        assert!(tx.sends() <= most, "{} sends, {config:?}", tx.sends());
        if tx.is_finished() {
            assert_eq!(tx.poll_timeout(), None);
            assert_eq!(tx.poll_transmit(), None);
        }
    };
    while tx.poll_transmit().is_some() {}
    while !r.is_empty() {
        let op = r.u8();
        if op & 1 == 1 {
            let mut bytes = r.bytes(256).to_vec();
            if let Some(slot) = bytes.get_mut(8..20).filter(|_| op & 2 == 2) {
                slot.copy_from_slice(tid.as_bytes());
            }
            if let Ok(msg) = Message::parse(&bytes) {
                let took = tx.handle_response(now, &msg);
                if took {
                    assert!(!answered, "completed twice");
                    assert_eq!(msg.transaction_id(), tid);
                    assert!(msg.class().is_response());
                    // Done or Failed as the RFC says of the response, nothing else.
                    let fault = crate::transaction::ResponseFault::of(&msg);
                    match tx.state() {
                        TransactionState::Done { class, .. } => {
                            assert_eq!((class, fault), (msg.class(), None));
                        }
                        TransactionState::Failed(f) => assert_eq!(Some(f), fault),
                        other => panic!("answered but {other:?}"),
                    }
                    answered = true;
                }
            }
        }
        now += Duration::from_millis(u64::from(op >> 2) * 37);
        check(&mut tx, now, answered);
    }
    // No more answers: it must time out, on schedule.
    for _ in 0..64 {
        let Some(at) = tx.poll_timeout() else { break };
        now = now.max(at);
        check(&mut tx, now, answered);
    }
    assert!(tx.is_finished(), "{config:?}");
    assert_eq!(
        answered,
        matches!(
            tx.state(),
            TransactionState::Done { .. } | TransactionState::Failed(_)
        )
    );
}
