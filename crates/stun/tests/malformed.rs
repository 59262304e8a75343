//! The malformed-input battery: one named test per case, each with its exact expected outcome.

use icebreaker_stun::attributes::{
    self, ALTERNATE_DOMAIN, ERROR_CODE, ErrorCode, FINGERPRINT, MESSAGE_INTEGRITY,
    MESSAGE_INTEGRITY_SHA256, MappedAddress, NONCE, Nonce, REALM, Realm, SOFTWARE, Software,
    USERNAME, Username, XOR_MAPPED_ADDRESS, XorMappedAddress,
};
use icebreaker_stun::integrity::Key;
use icebreaker_stun::{
    AttributeType, Class, Integrity, IntegrityError, Message, MessageWriter, Method, ParseError,
    TransactionId,
};

const TID: [u8; 12] = *b"malformed!!!";

/// A header with the given type, declared body length and cookie.
fn header(ty: u16, len: u16, cookie: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(20);
    b.extend_from_slice(&ty.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&cookie.to_be_bytes());
    b.extend_from_slice(&TID);
    b
}

/// One attribute TLV with zero padding.
fn tlv(ty: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&ty.to_be_bytes());
    b.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    b.extend_from_slice(value);
    b.resize(b.len() + (4 - value.len() % 4) % 4, 0);
    b
}

/// A Binding request with these body bytes and a correct length field.
fn message(body: &[u8]) -> Vec<u8> {
    let mut b = header(0x0001, u16::try_from(body.len()).unwrap(), 0x2112_A442);
    b.extend_from_slice(body);
    b
}

fn parse_err(bytes: &[u8]) -> ParseError {
    Message::parse(bytes).unwrap_err()
}

// ----- Framing ---------------------------------------------------------------------------

#[test]
fn empty_datagram() {
    assert_eq!(
        parse_err(&[]),
        ParseError::Truncated {
            expected: 20,
            actual: 0
        }
    );
}

#[test]
fn one_byte_datagram() {
    assert_eq!(
        parse_err(&[0x00]),
        ParseError::Truncated {
            expected: 20,
            actual: 1
        }
    );
}

#[test]
fn nineteen_byte_header() {
    let h = header(0x0001, 0, 0x2112_A442);
    assert_eq!(
        parse_err(&h[..19]),
        ParseError::Truncated {
            expected: 20,
            actual: 19
        }
    );
}

#[test]
fn bare_header_is_valid() {
    let b = message(&[]);
    let msg = Message::parse(&b).unwrap();
    assert_eq!(msg.attributes().count(), 0);
}

#[test]
fn length_not_a_multiple_of_four() {
    let mut b = header(0x0001, 5, 0x2112_A442);
    b.extend_from_slice(&[0; 5]);
    assert_eq!(parse_err(&b), ParseError::UnalignedLength { length: 5 });
}

#[test]
fn length_beyond_the_datagram() {
    let mut b = header(0x0001, 8, 0x2112_A442);
    b.extend_from_slice(&tlv(0x0025, &[]));
    assert_eq!(
        parse_err(&b),
        ParseError::LengthMismatch {
            declared: 8,
            actual: 4
        }
    );
}

#[test]
fn trailing_bytes_after_the_message() {
    let mut b = header(0x0001, 0, 0x2112_A442);
    b.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        parse_err(&b),
        ParseError::LengthMismatch {
            declared: 0,
            actual: 4
        }
    );
}

#[test]
fn wrong_magic_cookie() {
    let b = header(0x0001, 0, 0xdead_beef);
    assert_eq!(
        parse_err(&b),
        ParseError::BadMagicCookie { found: 0xdead_beef }
    );
}

#[test]
fn rfc3489_style_header_without_cookie() {
    let b = header(0x0001, 0, 0);
    assert_eq!(parse_err(&b), ParseError::BadMagicCookie { found: 0 });
}

#[test]
fn first_two_bits_not_zero() {
    for first in [0x40u8, 0x80, 0xc0] {
        let mut b = message(&[]);
        b[0] = first;
        assert_eq!(
            parse_err(&b),
            ParseError::NotStun,
            "first byte {first:#04x}"
        );
        assert!(!icebreaker_stun::is_stun(&b));
    }
}

// ----- Attribute TLVs ----------------------------------------------------------------------

#[test]
fn attribute_overrunning_the_message() {
    // USERNAME claims 8 bytes, 4 follow.
    let mut body = 0x0006u16.to_be_bytes().to_vec();
    body.extend_from_slice(&8u16.to_be_bytes());
    body.extend_from_slice(b"abcd");
    assert_eq!(
        parse_err(&message(&body)),
        ParseError::AttributeOverrun {
            at: 20,
            attr: USERNAME
        }
    );
}

#[test]
fn attribute_header_cut_short() {
    // A valid attribute, then 4 bytes that are a type and length claiming more.
    let mut body = tlv(0x0025, &[]);
    body.extend_from_slice(&[0x80, 0x22, 0x00, 0x04]);
    assert_eq!(
        parse_err(&message(&body)),
        ParseError::AttributeOverrun {
            at: 24,
            attr: SOFTWARE
        }
    );
}

#[test]
fn missing_padding_on_the_last_attribute() {
    // USERNAME "abc" without its padding byte: the body is 7 bytes.
    let mut body = tlv(0x0006, b"abc");
    body.pop();
    assert_eq!(
        parse_err(&message(&body)),
        ParseError::UnalignedLength { length: 7 }
    );
}

#[test]
fn missing_padding_between_attributes() {
    // USERNAME "abcdef" (needs 2 padding bytes) directly followed by SOFTWARE "xy": the parser
    // skips 2 bytes of SOFTWARE as padding and reads garbage as the next header.
    let mut body = 0x0006u16.to_be_bytes().to_vec();
    body.extend_from_slice(&6u16.to_be_bytes());
    body.extend_from_slice(b"abcdef");
    body.extend_from_slice(&tlv(0x8022, b"xy")[..6]);
    assert_eq!(body.len(), 16);
    assert_eq!(
        parse_err(&message(&body)),
        ParseError::AttributeOverrun {
            at: 32,
            attr: AttributeType(0x0002)
        }
    );
}

#[test]
fn nonzero_padding_is_accepted() {
    let mut body = tlv(0x0006, b"abc");
    body[7] = 0xcc;
    let b = message(&body);
    let msg = Message::parse(&b).unwrap();
    assert_eq!(msg.get::<Username<'_>>().unwrap(), Some(Username("abc")));
}

// ----- Addresses -------------------------------------------------------------------------

#[test]
fn bad_address_family() {
    for family in [0x00u8, 0x03, 0xff] {
        let b = message(&tlv(0x0020, &[0, family, 0x12, 0x34, 1, 2, 3, 4]));
        let msg = Message::parse(&b).unwrap();
        assert_eq!(
            msg.get::<XorMappedAddress>(),
            Err(ParseError::BadAddressFamily {
                attr: XOR_MAPPED_ADDRESS,
                family
            })
        );
    }
}

#[test]
fn bad_address_length() {
    // IPv4 with 16 address bytes, IPv6 with 4, and a value too short for the header.
    let cases: [(&[u8], usize); 4] = [
        (
            &[
                0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
            ],
            20,
        ),
        (&[0, 2, 0, 1, 1, 2, 3, 4], 8),
        (&[0, 1], 2),
        (&[0, 1, 0, 1, 1, 2, 3], 7),
    ];
    for (value, length) in cases {
        let b = message(&tlv(0x0020, value));
        let msg = Message::parse(&b).unwrap();
        assert_eq!(
            msg.get::<XorMappedAddress>(),
            Err(ParseError::BadAttributeLength {
                attr: XOR_MAPPED_ADDRESS,
                length
            })
        );
    }
    let b = message(&tlv(0x0001, &[0, 2, 0, 1, 1, 2, 3, 4]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<MappedAddress>(),
        Err(ParseError::BadAttributeLength {
            attr: attributes::MAPPED_ADDRESS,
            length: 8
        })
    );
}

// ----- FINGERPRINT ---------------------------------------------------------------------

fn signed(integrity: Option<Integrity>, fingerprint: bool) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(TID),
    )
    .unwrap();
    w.push(&Username("user")).unwrap();
    let n = match integrity {
        Some(i) => w.finish_with_integrity(&key(), i, fingerprint).unwrap(),
        None => w.finish(fingerprint).unwrap(),
    };
    buf[..n].to_vec()
}

fn key() -> Key {
    Key::short_term("secret").unwrap()
}

/// Appends a TLV to a whole message and fixes the header length.
fn append(mut msg: Vec<u8>, attr: &[u8]) -> Vec<u8> {
    msg.extend_from_slice(attr);
    let body = u16::try_from(msg.len() - 20).unwrap();
    msg[2..4].copy_from_slice(&body.to_be_bytes());
    msg
}

#[test]
fn fingerprint_not_last() {
    let b = append(signed(None, true), &tlv(0x0006, b"late"));
    assert_eq!(parse_err(&b), ParseError::FingerprintNotLast { at: 28 });
}

#[test]
fn fingerprint_of_wrong_length() {
    let b = message(&tlv(0x8028, &[0; 8]));
    assert_eq!(
        parse_err(&b),
        ParseError::BadAttributeLength {
            attr: FINGERPRINT,
            length: 8
        }
    );
}

#[test]
fn fingerprint_wrong() {
    let mut b = signed(None, true);
    let last = b.len() - 1;
    b[last] ^= 1;
    let msg = Message::parse(&b).unwrap();
    assert_eq!(msg.verify_fingerprint(), Err(IntegrityError::Mismatch));
}

#[test]
fn fingerprint_absent() {
    let b = signed(None, false);
    assert_eq!(
        Message::parse(&b).unwrap().verify_fingerprint(),
        Err(IntegrityError::Absent)
    );
}

// ----- Integrity -------------------------------------------------------------------------

#[test]
fn message_integrity_of_wrong_length() {
    for len in [0usize, 16, 19, 21, 32] {
        let b = message(&tlv(0x0008, &vec![0; len]));
        assert_eq!(
            parse_err(&b),
            ParseError::BadAttributeLength {
                attr: MESSAGE_INTEGRITY,
                length: len
            },
            "length {len}"
        );
    }
}

#[test]
fn message_integrity_sha256_of_wrong_length() {
    for len in [0usize, 12, 15, 18, 30, 36] {
        let b = message(&tlv(0x001c, &vec![0; len]));
        assert_eq!(
            parse_err(&b),
            ParseError::BadAttributeLength {
                attr: MESSAGE_INTEGRITY_SHA256,
                length: len
            },
            "length {len}"
        );
    }
    // 16..=32 in steps of 4 are all allowed (truncated tags).
    for len in [16usize, 20, 24, 28, 32] {
        Message::parse(&message(&tlv(0x001c, &vec![0; len]))).unwrap();
    }
}

#[test]
fn integrity_wrong_key_or_absent() {
    let b = signed(Some(Integrity::Sha1), true);
    let msg = Message::parse(&b).unwrap();
    msg.verify_integrity(&key()).unwrap();
    assert_eq!(
        msg.verify_integrity(&Key::short_term("other").unwrap()),
        Err(IntegrityError::Mismatch)
    );
    let b = signed(None, true);
    assert_eq!(
        Message::parse(&b).unwrap().verify_integrity(&key()),
        Err(IntegrityError::Absent)
    );
}

#[test]
fn attributes_after_integrity_are_ignored() {
    let b = append(
        signed(Some(Integrity::Sha1), false),
        &tlv(0x8022, b"injected"),
    );
    let msg = Message::parse(&b).unwrap();
    assert_eq!(msg.get::<Software<'_>>().unwrap(), None);
    assert!(!msg.has(SOFTWARE));
    let types: Vec<AttributeType> = msg.attributes().map(|a| a.attr_type).collect();
    assert_eq!(types, [USERNAME, MESSAGE_INTEGRITY]);
    // The MAC covers what precedes it, so it still verifies.
    msg.verify_integrity(&key()).unwrap();
    // And an ignored attribute is not reported as unknown either.
    let b = append(signed(Some(Integrity::Sha1), false), &tlv(0x0030, b"x"));
    let msg = Message::parse(&b).unwrap();
    assert_eq!(
        msg.unknown_comprehension_required(attributes::is_known)
            .count(),
        0
    );
}

#[test]
fn fingerprint_and_sha256_after_message_integrity_stay_visible() {
    let b = signed(Some(Integrity::Both), true);
    let msg = Message::parse(&b).unwrap();
    let types: Vec<AttributeType> = msg.attributes().map(|a| a.attr_type).collect();
    assert_eq!(
        types,
        [
            USERNAME,
            MESSAGE_INTEGRITY,
            MESSAGE_INTEGRITY_SHA256,
            FINGERPRINT
        ]
    );
    msg.verify_integrity(&key()).unwrap();
    msg.verify_integrity_sha256(&key()).unwrap();
    msg.verify_fingerprint().unwrap();
}

#[test]
fn message_integrity_after_sha256_is_ignored() {
    let b = append(
        signed(Some(Integrity::Sha256), false),
        &tlv(0x0008, &[0; 20]),
    );
    let msg = Message::parse(&b).unwrap();
    assert!(!msg.has_integrity());
    let types: Vec<AttributeType> = msg.attributes().map(|a| a.attr_type).collect();
    assert_eq!(types, [USERNAME, MESSAGE_INTEGRITY_SHA256]);
    assert_eq!(msg.verify_integrity(&key()), Err(IntegrityError::Absent));
    msg.verify(&key()).unwrap();
}

// ----- Text limits -----------------------------------------------------------------------

fn text_message(ty: u16, len: usize) -> Vec<u8> {
    message(&tlv(ty, &vec![b'a'; len]))
}

#[test]
fn username_of_513_bytes_is_too_long() {
    let b = text_message(0x0006, 513);
    assert_eq!(
        Message::parse(&b).unwrap().get::<Username<'_>>(),
        Err(ParseError::TooLong {
            attr: USERNAME,
            length: 513,
            max: 512
        })
    );
}

#[test]
fn username_of_512_bytes_is_accepted() {
    let b = text_message(0x0006, 512);
    assert_eq!(
        Message::parse(&b)
            .unwrap()
            .get::<Username<'_>>()
            .unwrap()
            .unwrap()
            .0
            .len(),
        512
    );
}

#[test]
fn realm_of_764_bytes_is_too_long() {
    let b = text_message(0x0014, 764);
    assert_eq!(
        Message::parse(&b).unwrap().get::<Realm<'_>>(),
        Err(ParseError::TooLong {
            attr: REALM,
            length: 764,
            max: 763
        })
    );
}

#[test]
fn realm_of_763_bytes_is_accepted() {
    let b = text_message(0x0014, 763);
    assert_eq!(
        Message::parse(&b)
            .unwrap()
            .get::<Realm<'_>>()
            .unwrap()
            .unwrap()
            .0
            .len(),
        763
    );
}

#[test]
fn nonce_of_764_bytes_is_too_long() {
    let b = text_message(0x0015, 764);
    assert_eq!(
        Message::parse(&b).unwrap().get::<Nonce<'_>>(),
        Err(ParseError::TooLong {
            attr: NONCE,
            length: 764,
            max: 763
        })
    );
}

#[test]
fn nonce_of_763_bytes_is_accepted() {
    let b = text_message(0x0015, 763);
    assert_eq!(
        Message::parse(&b)
            .unwrap()
            .get::<Nonce<'_>>()
            .unwrap()
            .unwrap()
            .0
            .len(),
        763
    );
}

#[test]
fn software_and_alternate_domain_of_764_bytes_are_too_long() {
    let b = text_message(0x8022, 764);
    assert_eq!(
        Message::parse(&b).unwrap().get::<Software<'_>>(),
        Err(ParseError::TooLong {
            attr: SOFTWARE,
            length: 764,
            max: 763
        })
    );
    let b = text_message(0x8003, 764);
    assert_eq!(
        Message::parse(&b)
            .unwrap()
            .get::<attributes::AlternateDomain<'_>>(),
        Err(ParseError::TooLong {
            attr: ALTERNATE_DOMAIN,
            length: 764,
            max: 763
        })
    );
}

#[test]
fn writer_refuses_over_long_text() {
    let mut buf = vec![0u8; 2048];
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(TID),
    )
    .unwrap();
    let long = "a".repeat(513);
    assert_eq!(
        w.push(&Username(&long)),
        Err(icebreaker_stun::EncodeError::ValueTooLong { attr: USERNAME })
    );
}

#[test]
fn non_utf8_text() {
    for ty in [0x0006u16, 0x0014, 0x0015, 0x8022] {
        let b = message(&tlv(ty, &[b'a', 0xff, 0xfe]));
        let msg = Message::parse(&b).unwrap();
        let err = ParseError::InvalidUtf8 {
            attr: AttributeType(ty),
        };
        match ty {
            0x0006 => assert_eq!(msg.get::<Username<'_>>(), Err(err)),
            0x0014 => assert_eq!(msg.get::<Realm<'_>>(), Err(err)),
            0x0015 => assert_eq!(msg.get::<Nonce<'_>>(), Err(err)),
            _ => assert_eq!(msg.get::<Software<'_>>(), Err(err)),
        }
    }
    // A reason phrase too.
    let b = message(&tlv(0x0009, &[0, 0, 4, 1, 0xc3]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<ErrorCode<'_>>(),
        Err(ParseError::InvalidUtf8 { attr: ERROR_CODE })
    );
}

// ----- ERROR-CODE ------------------------------------------------------------------------

fn error_code(class: u8, number: u8) -> Result<Option<u16>, ParseError> {
    let b = message(&tlv(0x0009, &[0, 0, class, number]));
    Message::parse(&b)
        .unwrap()
        .get::<ErrorCode<'_>>()
        .map(|e| e.map(|e| e.code))
}

#[test]
fn error_code_class_2() {
    assert_eq!(
        error_code(2, 0),
        Err(ParseError::BadErrorCode {
            class: 2,
            number: 0
        })
    );
}

#[test]
fn error_code_class_7() {
    assert_eq!(
        error_code(7, 0),
        Err(ParseError::BadErrorCode {
            class: 7,
            number: 0
        })
    );
}

#[test]
fn error_code_number_100() {
    assert_eq!(
        error_code(4, 100),
        Err(ParseError::BadErrorCode {
            class: 4,
            number: 100
        })
    );
}

#[test]
fn error_code_bounds_accepted() {
    assert_eq!(error_code(3, 0), Ok(Some(300)));
    assert_eq!(error_code(6, 99), Ok(Some(699)));
    assert_eq!(error_code(4, 20), Ok(Some(420)));
}

#[test]
fn error_code_too_short() {
    let b = message(&tlv(0x0009, &[0, 0, 4]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<ErrorCode<'_>>(),
        Err(ParseError::BadAttributeLength {
            attr: ERROR_CODE,
            length: 3
        })
    );
}

// ----- Unknown attributes ----------------------------------------------------------------

#[test]
fn unknown_comprehension_required_attribute_is_listed_for_420() {
    let mut body = tlv(0x0006, b"user");
    body.extend_from_slice(&tlv(0x0030, b"what")); // unknown, comprehension-required
    body.extend_from_slice(&tlv(0x8030, b"fine")); // unknown, comprehension-optional
    body.extend_from_slice(&tlv(0x7fff, &[])); // unknown, comprehension-required
    let b = message(&body);
    let msg = Message::parse(&b).unwrap();
    let unknown: Vec<AttributeType> = msg
        .unknown_comprehension_required(attributes::is_known)
        .collect();
    assert_eq!(unknown, [AttributeType(0x0030), AttributeType(0x7fff)]);
    // Unknown attributes stay readable raw.
    assert_eq!(msg.get_raw(AttributeType(0x8030)).unwrap().value, b"fine");
    assert_eq!(msg.get_raw(AttributeType(0x0030)).unwrap().value, b"what");
}

/// What a 420 lists: each unknown comprehension-required type once, in order, and no more
/// than `UnknownList::CAPACITY` of them however many the request carries.
#[test]
fn the_420_list_names_each_unknown_type_once_and_is_bounded() {
    let mut body = tlv(0x0030, b"a");
    body.extend_from_slice(&tlv(0x8030, b"b")); // comprehension-optional: not listed
    body.extend_from_slice(&tlv(0x0030, b"c")); // a repeat: listed once
    for t in 0x0040..0x0060u16 {
        body.extend_from_slice(&tlv(t, &[]));
    }
    let b = message(&body);
    let msg = Message::parse(&b).unwrap();
    let list = msg.unknown_attributes(attributes::is_known);
    assert_eq!(list.len(), attributes::UnknownList::CAPACITY);
    let expected: Vec<AttributeType> = core::iter::once(AttributeType(0x0030))
        .chain((0x0040..0x004f).map(AttributeType))
        .collect();
    assert_eq!(list.as_slice(), &expected[..]);
    // Known types are not listed; a caller that knows everything gets an empty list.
    assert!(msg.unknown_attributes(|_| true).is_empty());
    // The list encodes as UNKNOWN-ATTRIBUTES.
    assert_eq!(list.attribute().iter().collect::<Vec<_>>(), expected);
}

#[test]
fn unknown_comprehension_optional_attributes_are_not_listed() {
    let mut body = tlv(0x8030, b"x");
    body.extend_from_slice(&tlv(0xffff, b"yz"));
    let b = message(&body);
    let msg = Message::parse(&b).unwrap();
    assert_eq!(
        msg.unknown_comprehension_required(attributes::is_known)
            .count(),
        0
    );
}

#[test]
fn known_attributes_are_not_listed() {
    let b = signed(Some(Integrity::Both), true);
    let msg = Message::parse(&b).unwrap();
    assert_eq!(
        msg.unknown_comprehension_required(attributes::is_known)
            .count(),
        0
    );
    // A caller that knows less lists more.
    let listed: Vec<AttributeType> = msg.unknown_comprehension_required(|_| false).collect();
    assert_eq!(
        listed,
        [USERNAME, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256]
    );
}

// ----- Other fixed-size attributes -----------------------------------------------------

#[test]
fn fixed_size_attributes_of_wrong_length() {
    use icebreaker_stun::attributes::{IceControlled, Lifetime, Priority, UseCandidate};
    let b = message(&tlv(0x0024, &[0; 3]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<Priority>(),
        Err(ParseError::BadAttributeLength {
            attr: attributes::PRIORITY,
            length: 3
        })
    );
    let b = message(&tlv(0x8029, &[0; 4]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<IceControlled>(),
        Err(ParseError::BadAttributeLength {
            attr: attributes::ICE_CONTROLLED,
            length: 4
        })
    );
    let b = message(&tlv(0x0025, &[0; 4]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<UseCandidate>(),
        Err(ParseError::BadAttributeLength {
            attr: attributes::USE_CANDIDATE,
            length: 4
        })
    );
    let b = message(&tlv(0x000d, &[0; 8]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<Lifetime>(),
        Err(ParseError::BadAttributeLength {
            attr: attributes::LIFETIME,
            length: 8
        })
    );
}

#[test]
fn odd_unknown_attributes_list() {
    use icebreaker_stun::attributes::UnknownAttributes;
    let b = message(&tlv(0x000a, &[0, 1, 0]));
    assert_eq!(
        Message::parse(&b).unwrap().get::<UnknownAttributes<'_>>(),
        Err(ParseError::BadAttributeLength {
            attr: attributes::UNKNOWN_ATTRIBUTES,
            length: 3
        })
    );
}

#[test]
fn password_algorithms_overrunning_parameters() {
    use icebreaker_stun::attributes::PasswordAlgorithms;
    let b = message(&tlv(0x8002, &[0, 2, 0xff, 0xff, 0, 0]));
    assert!(matches!(
        Message::parse(&b).unwrap().get::<PasswordAlgorithms<'_>>(),
        Err(ParseError::BadAttributeLength { .. })
    ));
}
