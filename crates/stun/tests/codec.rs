//! Credentials (keys, OpaqueString, USERHASH, the nonce cookie), ChannelData, RFC 7983
//! demultiplexing and the message-type packing, through the public API.

use icebreaker_stun::attributes::{PasswordAlgorithmId, Username};
use icebreaker_stun::demux::{Protocol, classify};
use icebreaker_stun::integrity::{
    Key, NONCE_COOKIE_PREFIX, NonceCookie, Preparation, long_term_key, opaque_string, prepare,
    userhash,
};
use icebreaker_stun::{
    CHANNEL_RANGE, ChannelData, Class, CredentialError, EncodeError, Integrity, Message,
    MessageWriter, Method, ParseError, TransactionId, is_stun, message_type, split_message_type,
};
use md5::Md5;
use sha2::{Digest, Sha256};

// ----- Long-term keys ----------------------------------------------------------------------

#[test]
fn long_term_md5_key() {
    let raw = long_term_key(
        "user",
        "realm",
        "pass",
        PasswordAlgorithmId::MD5,
        Preparation::None,
    )
    .unwrap();
    assert_eq!(raw.as_slice(), &Md5::digest(b"user:realm:pass")[..]);
    assert_eq!(raw.as_slice().len(), 16);
}

#[test]
fn long_term_sha256_key() {
    let raw = long_term_key(
        "user",
        "realm",
        "pass",
        PasswordAlgorithmId::SHA256,
        Preparation::None,
    )
    .unwrap();
    assert_eq!(raw.as_slice(), &Sha256::digest(b"user:realm:pass")[..]);
    assert_eq!(raw.as_slice().len(), 32);
}

#[test]
fn long_term_key_refuses_unknown_algorithms() {
    for alg in [0x0000, 0x0003, 0xffff] {
        assert_eq!(
            long_term_key(
                "user",
                "realm",
                "pass",
                PasswordAlgorithmId(alg),
                Preparation::None
            )
            .map(|k| k.as_slice().len()),
            Err(CredentialError::UnsupportedAlgorithm(alg))
        );
    }
}

#[test]
fn long_term_key_prepares_realm_and_password() {
    // A no-break space in the password becomes a plain space under OpaqueString.
    let prepared = long_term_key(
        "user",
        "realm",
        "pa\u{00A0}ss",
        PasswordAlgorithmId::MD5,
        Preparation::OpaqueString,
    )
    .unwrap();
    assert_eq!(prepared.as_slice(), &Md5::digest(b"user:realm:pa ss")[..]);
    assert_eq!(
        long_term_key(
            "user",
            "realm",
            "",
            PasswordAlgorithmId::MD5,
            Preparation::OpaqueString
        )
        .map(|k| k.as_slice().len()),
        Err(CredentialError::Empty)
    );
}

#[test]
fn long_term_key_signs_and_verifies() {
    let key = Key::long_term(
        "user",
        "realm",
        "pass",
        PasswordAlgorithmId::SHA256,
        Preparation::OpaqueString,
    )
    .unwrap();
    let mut buf = [0u8; 128];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::ALLOCATE,
        TransactionId::default(),
    )
    .unwrap();
    w.push(&Username("user")).unwrap();
    let n = w
        .finish_with_integrity(&key, Integrity::Both, true)
        .unwrap();
    let msg = Message::parse(&buf[..n]).unwrap();
    msg.verify_integrity(&key).unwrap();
    msg.verify_integrity_sha256(&key).unwrap();
    // The same key as raw bytes.
    let raw = long_term_key(
        "user",
        "realm",
        "pass",
        PasswordAlgorithmId::SHA256,
        Preparation::OpaqueString,
    )
    .unwrap();
    msg.verify(&Key::new(raw.as_slice())).unwrap();
}

#[test]
fn short_term_key_refuses_bad_passwords() {
    assert!(matches!(Key::short_term(""), Err(CredentialError::Empty)));
    assert!(matches!(
        Key::short_term("a\u{0007}b"),
        Err(CredentialError::Prohibited { at: 1 })
    ));
    assert!(Key::short_term("VOkJxbRl1RmTxUk/WvJxBt").is_ok());
}

#[test]
fn key_debug_hides_the_secret() {
    assert_eq!(format!("{:?}", Key::new(b"secret")), "Key(..)");
}

// ----- OpaqueString (RFC 8265 §4.2) -------------------------------------------------------

#[test]
fn opaque_string_ascii_is_borrowed() {
    assert!(matches!(
        opaque_string("Hello World!").unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn opaque_string_maps_non_ascii_spaces() {
    for space in [
        '\u{00A0}', '\u{1680}', '\u{2000}', '\u{200A}', '\u{202F}', '\u{205F}', '\u{3000}',
    ] {
        let s = format!("a{space}b");
        assert_eq!(
            opaque_string(&s).unwrap(),
            "a b",
            "U+{:04X}",
            u32::from(space)
        );
    }
}

#[test]
fn opaque_string_normalises_to_nfc() {
    // e + combining acute accent -> U+00E9.
    assert_eq!(opaque_string("caf\u{0065}\u{0301}").unwrap(), "caf\u{00E9}");
    // Already composed stays.
    assert_eq!(opaque_string("\u{00E9}").unwrap(), "\u{00E9}");
    // NFC, not NFKC: compatibility characters are kept.
    assert_eq!(opaque_string("\u{2168}").unwrap(), "\u{2168}");
}

#[test]
fn opaque_string_refuses_control_characters() {
    assert_eq!(
        opaque_string("ab\u{0000}"),
        Err(CredentialError::Prohibited { at: 2 })
    );
    assert_eq!(
        opaque_string("\u{007F}"),
        Err(CredentialError::Prohibited { at: 0 })
    );
    assert_eq!(
        opaque_string("x\u{0085}"),
        Err(CredentialError::Prohibited { at: 1 })
    );
    assert_eq!(
        opaque_string("tab\there"),
        Err(CredentialError::Prohibited { at: 3 })
    );
}

/// RFC 8264 §4.3: FreeformClass refuses more than controls: unassigned code points,
/// default-ignorable ones (a soft hyphen, a zero-width space, a byte-order mark), old Hangul
/// jamo, noncharacters, and a zero-width joiner outside the context that allows it (after a
/// virama). Assigned symbols and letters of any script pass.
#[test]
fn opaque_string_refuses_what_freeform_class_disallows() {
    for (s, at) in [
        ("ab\u{0378}", 2),  // unassigned (Greek block gap)
        ("a\u{00AD}b", 1),  // SOFT HYPHEN: default ignorable
        ("a\u{200B}b", 1),  // ZERO WIDTH SPACE: default ignorable
        ("\u{FEFF}pwd", 0), // BYTE ORDER MARK: default ignorable
        ("x\u{1100}", 1),   // HANGUL CHOSEONG KIYEOK: old Hangul jamo
        ("x\u{FDD0}", 1),   // noncharacter
        ("ab\u{200D}", 2),  // ZERO WIDTH JOINER without its context (CONTEXTJ)
        ("a\u{00B7}b", 1),  // MIDDLE DOT outside l·l (CONTEXTO)
        // GREEK ANO TELEIA normalises to MIDDLE DOT, and the rules hold after normalisation
        // (RFC 8264 §7), or the result would be refused when prepared again (found by
        // fuzz_integrity).
        ("a\u{0387}b", 1),
        // Context rules that would look past either end refuse, at the character.
        ("pass\u{00B7}", 4),
        ("x\u{0375}", 1),
        ("\u{0628}\u{200C}", 1),
        // Conjoining jamo are refused as given, though NFC would compose them into U+AC00
        // (RFC 8265 §4.2.2: enforcement includes preparation's class check).
        ("\u{1100}\u{1161}", 0),
    ] {
        assert_eq!(
            opaque_string(s),
            Err(CredentialError::Prohibited { at }),
            "{s:?}"
        );
    }
    for s in [
        "Passwörd",
        "密码",
        "пароль",
        "☠🐒",
        "\u{0915}\u{094D}\u{200D}",
    ] {
        assert_eq!(opaque_string(s).as_deref(), Ok(s), "{s:?}");
    }
    assert_eq!(opaque_string("l\u{0387}l").as_deref(), Ok("l\u{00B7}l"));
}

#[test]
fn opaque_string_refuses_empty() {
    assert_eq!(opaque_string(""), Err(CredentialError::Empty));
}

#[test]
fn prepare_dispatches() {
    assert_eq!(
        prepare("a\u{00A0}b", Preparation::OpaqueString).unwrap(),
        "a b"
    );
    assert_eq!(prepare("a\u{00A0}b", Preparation::SaslPrep).unwrap(), "a b");
    assert_eq!(
        prepare("a\u{00A0}b", Preparation::None).unwrap(),
        "a\u{00A0}b"
    );
    // SASLprep maps U+00AD to nothing and NFKC-normalises U+2168 to "IX".
    assert_eq!(
        prepare("I\u{00AD}X \u{2168}", Preparation::SaslPrep).unwrap(),
        "IX IX"
    );
    assert_eq!(
        prepare("a\u{0007}", Preparation::SaslPrep),
        Err(CredentialError::SaslPrep)
    );
}

// ----- USERHASH ----------------------------------------------------------------------------

#[test]
fn userhash_is_sha256_of_user_colon_realm() {
    let h = userhash("user", "example.org").unwrap();
    let expected: [u8; 32] = Sha256::digest(b"user:example.org").into();
    assert_eq!(h, expected);
    // Both parts go through OpaqueString.
    assert_eq!(
        userhash("us\u{00A0}er", "realm").unwrap(),
        userhash("us er", "realm").unwrap()
    );
    assert_eq!(userhash("", "realm"), Err(CredentialError::Empty));
}

// ----- Nonce cookie (RFC 8489 §9.2) -------------------------------------------------------

#[test]
fn nonce_cookie_round_trips() {
    for password_algorithms in [false, true] {
        for username_anonymity in [false, true] {
            for reserved in [0u32, 4, 8, 0x55_5554, 0xff_fffc] {
                let c = NonceCookie {
                    password_algorithms,
                    username_anonymity,
                    reserved,
                };
                let text = c.encode();
                let text = core::str::from_utf8(&text).unwrap();
                assert!(text.starts_with(NONCE_COOKIE_PREFIX));
                let nonce = format!("{text}rest-of-nonce");
                assert_eq!(NonceCookie::parse(&nonce), Some(c));
            }
        }
    }
}

#[test]
fn nonce_cookie_parses_rfc_style_values() {
    for nonce in [
        "obMatJos2AAAB",
        "obMatJos2AAAC",
        "obMatJos2gAAA",
        "obMatJos2AAABadl7W7PeDU4hKE72jda",
    ] {
        let c = NonceCookie::parse(nonce).unwrap();
        assert_eq!(&c.encode()[..], &nonce.as_bytes()[..13], "{nonce}");
    }
    assert_eq!(
        NonceCookie::parse("obMatJos2AAAA"),
        Some(NonceCookie::default())
    );
    // Bit 0 is the least significant (RFC 8489 erratum 6290).
    let pa = NonceCookie::parse("obMatJos2AAAB").unwrap();
    assert!(pa.password_algorithms && !pa.username_anonymity && pa.reserved == 0);
    let ua = NonceCookie::parse("obMatJos2AAAC").unwrap();
    assert!(!ua.password_algorithms && ua.username_anonymity && ua.reserved == 0);
    let top = NonceCookie::parse("obMatJos2gAAA").unwrap();
    assert!(!top.password_algorithms && !top.username_anonymity);
    assert_eq!(top.reserved, 1 << 23);
    let both = NonceCookie {
        password_algorithms: true,
        username_anonymity: true,
        reserved: 0,
    };
    assert_eq!(&both.encode()[9..], b"AAAD");
}

#[test]
fn nonce_cookie_absent_or_malformed() {
    assert_eq!(NonceCookie::parse(""), None);
    assert_eq!(NonceCookie::parse("f//499k954d6OL34oL9FSTvy64sA"), None);
    assert_eq!(NonceCookie::parse("obMatJos2AA"), None);
    assert_eq!(NonceCookie::parse("obMatJos2AA!A"), None);
    assert_eq!(NonceCookie::parse("obMatJos"), None);
}

// ----- ChannelData (RFC 8656 §12.4) -------------------------------------------------------

#[test]
fn channel_data_parses_unpadded_and_padded() {
    let unpadded = [0x40, 0x00, 0x00, 0x03, b'a', b'b', b'c'];
    let cd = ChannelData::parse(&unpadded).unwrap();
    assert_eq!((cd.channel(), cd.data()), (0x4000, &b"abc"[..]));
    let padded = [0x4f, 0xff, 0x00, 0x03, b'a', b'b', b'c', 0];
    let cd = ChannelData::parse(&padded).unwrap();
    assert_eq!((cd.channel(), cd.data()), (0x4fff, &b"abc"[..]));
    let empty = [0x40, 0x01, 0x00, 0x00];
    assert_eq!(ChannelData::parse(&empty).unwrap().data(), b"");
}

#[test]
fn channel_data_errors() {
    for n in 0..4 {
        assert_eq!(
            ChannelData::parse(&[0x40, 0, 0, 0][..n]),
            Err(ParseError::Truncated {
                expected: 4,
                actual: n
            })
        );
    }
    // Data shorter than the length says.
    assert_eq!(
        ChannelData::parse(&[0x40, 0x00, 0x00, 0x08, 1, 2, 3, 4]),
        Err(ParseError::Truncated {
            expected: 12,
            actual: 8
        })
    );
    // More than padding after the data.
    assert_eq!(
        ChannelData::parse(&[0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0, 0]),
        Err(ParseError::LengthMismatch {
            declared: 3,
            actual: 5
        })
    );
    // Channel numbers outside 0x4000..=0x4FFF.
    for channel in [0x0000u16, 0x3fff, 0x5000, 0x7fff, 0xffff] {
        let [a, b] = channel.to_be_bytes();
        assert_eq!(ChannelData::parse(&[a, b, 0, 0]), Err(ParseError::NotStun));
        assert_eq!(
            ChannelData::parse_stream(&[a, b, 0, 0]),
            Err(ParseError::NotStun)
        );
    }
}

#[test]
fn channel_data_encodes_with_and_without_padding() {
    let mut out = [0xeeu8; 16];
    assert_eq!(
        ChannelData::encode(0x4001, b"hello", false, &mut out),
        Ok(9)
    );
    assert_eq!(
        &out[..9],
        &[0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o']
    );
    assert_eq!(
        ChannelData::encode(0x4001, b"hello", true, &mut out),
        Ok(12)
    );
    assert_eq!(
        &out[..12],
        &[
            0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0, 0, 0
        ]
    );
    let cd = ChannelData::parse(&out[..12]).unwrap();
    assert_eq!((cd.channel(), cd.data()), (0x4001, &b"hello"[..]));
    assert_eq!(
        ChannelData::encode(0x4001, b"hello", true, &mut [0u8; 11]),
        Err(EncodeError::BufferTooSmall { needed: 12 })
    );
    assert_eq!(
        ChannelData::encode(0x4001, &vec![0; 65536], false, &mut vec![0; 70000]),
        Err(EncodeError::MessageTooLong)
    );
    let mut header = [0u8; 4];
    ChannelData::encode_header(0x4abc, 300, &mut header).unwrap();
    assert_eq!(header, [0x4a, 0xbc, 0x01, 0x2c]);
    assert_eq!(
        ChannelData::encode_header(0x4abc, 65536, &mut header),
        Err(EncodeError::MessageTooLong)
    );
}

#[test]
fn channel_data_stream_framing() {
    let mut stream = Vec::new();
    let mut buf = [0u8; 64];
    for (ch, data) in [
        (0x4000u16, &b"a"[..]),
        (0x4001, b"four"),
        (0x4002, b""),
        (0x4003, b"seven!!"),
    ] {
        let n = ChannelData::encode(ch, data, true, &mut buf).unwrap();
        stream.extend_from_slice(&buf[..n]);
    }
    let mut rest = &stream[..];
    let mut seen = Vec::new();
    while let Some((cd, used)) = ChannelData::parse_stream(rest).unwrap() {
        assert_eq!(used % 4, 0);
        seen.push((cd.channel(), cd.data().to_vec()));
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(
        seen,
        [
            (0x4000, b"a".to_vec()),
            (0x4001, b"four".to_vec()),
            (0x4002, Vec::new()),
            (0x4003, b"seven!!".to_vec())
        ]
    );
    // Every strict prefix of a frame asks for more bytes.
    let frame = &stream[..8]; // 0x4000 "a" padded
    for n in 0..8 {
        assert_eq!(
            ChannelData::parse_stream(&frame[..n]),
            Ok(None),
            "prefix {n}"
        );
    }
}

#[test]
fn channel_range_is_rfc_8656() {
    assert_eq!(*CHANNEL_RANGE.start(), 0x4000);
    assert_eq!(*CHANNEL_RANGE.end(), 0x4fff);
}

// ----- RFC 7983 demultiplexing ----------------------------------------------------------

#[test]
fn demux_boundaries() {
    let expect = |b: u8| match b {
        0..=3 => Protocol::Stun,
        16..=19 => Protocol::Zrtp,
        20..=63 => Protocol::Dtls,
        64..=79 => Protocol::ChannelData,
        128..=191 => Protocol::Rtp,
        _ => Protocol::Other,
    };
    for b in 0..=255u8 {
        assert_eq!(classify(&[b, 0, 0, 0]), expect(b), "first byte {b}");
    }
    assert_eq!(classify(&[]), Protocol::Other);
    for (b, p) in [
        (3u8, Protocol::Stun),
        (4, Protocol::Other),
        (15, Protocol::Other),
        (16, Protocol::Zrtp),
        (19, Protocol::Zrtp),
        (20, Protocol::Dtls),
        (63, Protocol::Dtls),
        (64, Protocol::ChannelData),
        (79, Protocol::ChannelData),
        (80, Protocol::Other),
        (127, Protocol::Other),
        (128, Protocol::Rtp),
        (191, Protocol::Rtp),
        (192, Protocol::Other),
    ] {
        assert_eq!(classify(&[b]), p, "first byte {b}");
    }
}

#[test]
fn is_stun_checks_cookie_and_length() {
    let mut buf = [0u8; 64];
    let w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::default(),
    )
    .unwrap();
    let n = w.finish(true).unwrap();
    assert!(is_stun(&buf[..n]));
    assert!(!is_stun(&buf[..n - 4]));
    assert!(!is_stun(&buf[..19]));
    let mut bad = buf;
    bad[4] ^= 1;
    assert!(!is_stun(&bad[..n]));
    assert_eq!(classify(&buf[..n]), Protocol::Stun);
}

// ----- Message type packing (RFC 8489 §5) -------------------------------------------------

#[test]
fn message_type_known_values() {
    let cases = [
        (Class::Request, Method::BINDING, 0x0001),
        (Class::Indication, Method::BINDING, 0x0011),
        (Class::Success, Method::BINDING, 0x0101),
        (Class::Error, Method::BINDING, 0x0111),
        (Class::Request, Method::ALLOCATE, 0x0003),
        (Class::Success, Method::ALLOCATE, 0x0103),
        (Class::Error, Method::ALLOCATE, 0x0113),
        (Class::Request, Method::REFRESH, 0x0004),
        (Class::Indication, Method::SEND, 0x0016),
        (Class::Indication, Method::DATA, 0x0017),
        (Class::Request, Method::CREATE_PERMISSION, 0x0008),
        (Class::Request, Method::CHANNEL_BIND, 0x0009),
        (Class::Request, Method::new(0xfff).unwrap(), 0x3eef),
        (Class::Error, Method::new(0xfff).unwrap(), 0x3fff),
    ];
    for (class, method, ty) in cases {
        assert_eq!(message_type(class, method), ty, "{class} {method}");
        assert_eq!(split_message_type(ty), (class, method));
    }
}

#[test]
fn message_type_round_trips_for_every_method_and_class() {
    for m in 0..=0xfffu16 {
        let method = Method::new(m).unwrap();
        for class in [
            Class::Request,
            Class::Indication,
            Class::Success,
            Class::Error,
        ] {
            let ty = message_type(class, method);
            assert!(ty < 0x4000, "two leading bits must stay zero");
            assert_eq!(split_message_type(ty), (class, method));
        }
    }
    assert_eq!(Method::new(0x1000), None);
    assert!(Class::Success.is_response() && Class::Error.is_response());
    assert!(!Class::Request.is_response() && !Class::Indication.is_response());
}

#[test]
fn writer_header_matches_message_type() {
    let mut buf = [0u8; 20];
    let tid = TransactionId::new(*b"0123456789ab");
    let w = MessageWriter::new(&mut buf, Class::Error, Method::CHANNEL_BIND, tid).unwrap();
    assert_eq!(w.finish(false), Ok(20));
    assert_eq!(&buf[..2], &0x0119u16.to_be_bytes());
    let msg = Message::parse(&buf).unwrap();
    assert_eq!(
        (msg.class(), msg.method(), msg.transaction_id()),
        (Class::Error, Method::CHANNEL_BIND, tid)
    );
    assert_eq!(
        MessageWriter::new(&mut [0u8; 19], Class::Request, Method::BINDING, tid).map(|_| ()),
        Err(EncodeError::BufferTooSmall { needed: 20 })
    );
}

#[test]
fn writer_reports_small_buffers() {
    let mut buf = [0u8; 30];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::default(),
    )
    .unwrap();
    assert_eq!(
        w.push(&Username("abcdefgh")),
        Err(EncodeError::BufferTooSmall { needed: 32 })
    );
    let key = Key::short_term("x").unwrap();
    assert_eq!(
        w.finish_with_integrity(&key, Integrity::Sha1, false),
        Err(EncodeError::BufferTooSmall { needed: 44 })
    );
}

#[test]
fn writer_refuses_integrity_attributes_in_push() {
    use icebreaker_stun::attributes::{FINGERPRINT, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256};
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::default(),
    )
    .unwrap();
    for t in [MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256, FINGERPRINT] {
        assert_eq!(
            w.push_raw(t, &[0; 20]),
            Err(EncodeError::InvalidValue { attr: t })
        );
    }
}

#[test]
fn transaction_id_display() {
    let tid = TransactionId::new([0xab; 12]);
    assert_eq!(tid.to_string(), "abababababababababababab");
    assert_eq!(
        format!("{tid:?}"),
        "TransactionId(abababababababababababab)"
    );
}

/// Regression: a push whose value fails to encode (after the writer reserved its slot) used to
/// leave a zero-filled attribute in the message. It must leave the message as it was.
#[test]
fn failed_push_leaves_the_message_unchanged() {
    use icebreaker_stun::attributes::{ERROR_CODE, ErrorCode, USERNAME};
    let mut buf = [0u8; 2048];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Error,
        Method::BINDING,
        TransactionId::default(),
    )
    .unwrap();
    w.push(&Username("kept")).unwrap();
    let before = w.len();
    let long = "x".repeat(513);
    assert_eq!(
        w.push(&Username(&long)),
        Err(EncodeError::ValueTooLong { attr: USERNAME })
    );
    assert_eq!(
        w.push(&ErrorCode {
            code: 700,
            reason: ""
        }),
        Err(EncodeError::InvalidValue { attr: ERROR_CODE })
    );
    assert_eq!(
        w.push(&ErrorCode::bare(299)),
        Err(EncodeError::InvalidValue { attr: ERROR_CODE })
    );
    assert_eq!(w.len(), before);
    let n = w.finish(true).unwrap();
    let msg = Message::parse(&buf[..n]).unwrap();
    let types: Vec<u16> = msg.attributes().map(|a| a.attr_type.0).collect();
    assert_eq!(types, [0x0006, 0x8028]);
    msg.verify_fingerprint().unwrap();
}

/// RFC 8489's limits for what is sent: USERNAME fewer than 509 bytes (§14.3); SOFTWARE and
/// reason phrases fewer than 128 characters and at most 509 bytes; ALTERNATE-DOMAIN 255 or
/// fewer ASCII characters (§14.16). REALM and NONCE, echoed from a server, keep the reading
/// limit, and reading stays as lenient as before.
#[test]
fn writer_holds_text_to_rfc8489_limits() {
    use icebreaker_stun::attributes::{
        ALTERNATE_DOMAIN, AlternateDomain, ERROR_CODE, ErrorCode, MAX_TEXT_LEN, NONCE, Nonce,
        Realm, SOFTWARE, Software, USERNAME, Username,
    };
    let mut buf = vec![0u8; 8192];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Error,
        Method::BINDING,
        TransactionId::default(),
    )
    .unwrap();
    let too_long = |attr| Err(EncodeError::ValueTooLong { attr });
    assert_eq!(w.push(&Username(&"u".repeat(508))), Ok(()));
    assert_eq!(w.push(&Username(&"u".repeat(509))), too_long(USERNAME));
    // 127 four-byte characters (508 bytes) fit; 128 characters never do, however short.
    let emoji = "\u{1F600}".repeat(127);
    let accented = "\u{e9}".repeat(128);
    assert_eq!(w.push(&Software(&emoji)), Ok(()));
    assert_eq!(w.push(&Software(&"s".repeat(127))), Ok(()));
    assert_eq!(w.push(&Software(&"s".repeat(128))), too_long(SOFTWARE));
    assert_eq!(w.push(&Software(&accented)), too_long(SOFTWARE));
    let reason = |reason| ErrorCode { code: 400, reason };
    assert_eq!(w.push(&reason(&emoji)), Ok(()));
    assert_eq!(w.push(&reason(&accented)), too_long(ERROR_CODE));
    assert_eq!(w.push(&AlternateDomain(&"d".repeat(255))), Ok(()));
    assert_eq!(
        w.push(&AlternateDomain(&"d".repeat(256))),
        too_long(ALTERNATE_DOMAIN)
    );
    assert_eq!(
        w.push(&AlternateDomain("b\u{fc}cher.example")),
        too_long(ALTERNATE_DOMAIN)
    );
    // A server's realm and nonce go back as they came, up to what is read.
    assert_eq!(w.push(&Realm(&accented)), Ok(()));
    assert_eq!(w.push(&Nonce(&"n".repeat(MAX_TEXT_LEN))), Ok(()));
    assert_eq!(
        w.push(&Nonce(&"n".repeat(MAX_TEXT_LEN + 1))),
        too_long(NONCE)
    );
    // What was written reads back.
    let n = w.finish(false).unwrap();
    let msg = Message::parse(&buf[..n]).unwrap();
    assert_eq!(msg.get::<Software<'_>>().unwrap(), Some(Software(&emoji)));
    assert_eq!(msg.get::<Realm<'_>>().unwrap(), Some(Realm(&accented)));
}
