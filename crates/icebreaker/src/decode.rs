//! `icebreaker stun decode`: hex in, a typed listing of one STUN message out.
//!
//! The protocol work (validation, attribute decoding, integrity and fingerprint checks) is done
//! by `icebreaker-stun`; this module turns its answers into a report that prints as JSON or as
//! an aligned table.
//!
//! Verdicts, for both `integrity` and `fingerprint`:
//!
//! - `"valid"`: the attribute is present and checks out;
//! - `"invalid"`: it is present and does not (the command then exits non-zero);
//! - `"absent"`: the message carries no such attribute;
//! - `"unchecked"` (integrity only): MESSAGE-INTEGRITY(-SHA256) is present but no credential was
//!   given, so nothing could be checked. This is not a failure.
//!
//! When a message carries both MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256, both are checked
//! with the same key and the `integrity` verdict is `"valid"` only if both are.

use core::fmt::{self, Write as _};
use core::net::SocketAddr;

use icebreaker_stun::attributes::{
    self, AdditionalAddressFamily, AddressErrorCode, AddressFamily, AlternateDomain,
    AlternateServer, Attribute, CacheTimeout, ChangeRequest, ChannelNumber, Data, DontFragment,
    ErrorCode, EvenPort, Fingerprint, IceControlled, IceControlling, Icmp, Lifetime, MappedAddress,
    MessageIntegrity, MessageIntegritySha256, Nonce, OtherAddress, Padding, PasswordAlgorithm,
    PasswordAlgorithmId, PasswordAlgorithms, Priority, Realm, RequestedAddressFamily,
    RequestedTransport, ReservationToken, ResponseOrigin, ResponsePort, Software,
    UnknownAttributes, UseCandidate, Userhash, Username, XorMappedAddress, XorPeerAddress,
    XorRelayedAddress,
};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{
    AttributeType, Class, CredentialError, HEADER_LEN, IntegrityError, Message, ParseError,
    RawAttribute, TransactionId,
};
use serde::Serialize;
use serde_json::{Value, json};

/// Why hex text could not be turned into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// No hex digits at all.
    Empty,
    /// An odd number of hex digits.
    OddLength {
        /// How many digits there were.
        digits: usize,
    },
    /// A character that is neither a hex digit nor whitespace.
    InvalidChar {
        /// The character.
        ch: char,
        /// Its position in the input, in characters from 0.
        at: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("no hex digits in the input"),
            Self::OddLength { digits } => {
                write!(
                    f,
                    "odd number of hex digits ({digits}): the last byte is incomplete"
                )
            }
            Self::InvalidChar { ch, at } => {
                write!(
                    f,
                    "invalid hex character {ch:?} at character {at} of the input"
                )
            }
        }
    }
}

impl std::error::Error for HexError {}

/// Decodes hex text, ignoring whitespace anywhere (so `xxd -p` and RFC-style dumps work).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    for (at, ch) in text.chars().enumerate() {
        if ch.is_whitespace() {
            continue;
        }
        let Some(nibble) = ch.to_digit(16) else {
            return Err(HexError::InvalidChar { ch, at });
        };
        // `to_digit(16)` is below 16, so it fits a byte.
        let nibble = nibble as u8;
        digits += 1;
        match high.take() {
            Some(h) => out.push((h << 4) | nibble),
            None => high = Some(nibble),
        }
    }
    if digits == 0 {
        Err(HexError::Empty)
    } else if high.is_some() {
        Err(HexError::OddLength { digits })
    } else {
        Ok(out)
    }
}

/// A credential to check MESSAGE-INTEGRITY(-SHA256) with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A short-term credential (ICE): the key is the OpaqueString-prepared password.
    ShortTerm {
        /// The password.
        password: String,
    },
    /// A long-term credential (TURN): the key is `MD5(user:realm:password)`, or SHA-256.
    LongTerm {
        /// The username, used as given.
        username: String,
        /// The realm.
        realm: String,
        /// The password.
        password: String,
        /// Use the SHA-256 key derivation (RFC 8489 PASSWORD-ALGORITHM 0x0002) instead of MD5.
        sha256: bool,
        /// Prepare realm and password with SASLprep (RFC 5389 peers, the RFC 5769 vectors)
        /// instead of OpaqueString (RFC 8489).
        saslprep: bool,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print passwords.
        match self {
            Self::ShortTerm { .. } => f.write_str("ShortTerm(..)"),
            Self::LongTerm {
                username,
                realm,
                sha256,
                saslprep,
                ..
            } => f
                .debug_struct("LongTerm")
                .field("username", username)
                .field("realm", realm)
                .field("sha256", sha256)
                .field("saslprep", saslprep)
                .finish_non_exhaustive(),
        }
    }
}

impl Credential {
    /// Parses `USER:REALM:PASS` (the password may itself contain colons).
    pub fn parse_long_term(spec: &str, sha256: bool, saslprep: bool) -> Option<Self> {
        let mut parts = spec.splitn(3, ':');
        let (username, realm, password) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self::LongTerm {
            username: username.to_owned(),
            realm: realm.to_owned(),
            password: password.to_owned(),
            sha256,
            saslprep,
        })
    }

    /// Derives the HMAC key.
    pub fn key(&self) -> Result<Key, CredentialError> {
        match self {
            Self::ShortTerm { password } => Key::short_term(password),
            Self::LongTerm {
                username,
                realm,
                password,
                sha256,
                saslprep,
            } => Key::long_term(
                username,
                realm,
                password,
                if *sha256 {
                    PasswordAlgorithmId::SHA256
                } else {
                    PasswordAlgorithmId::MD5
                },
                if *saslprep {
                    Preparation::SaslPrep
                } else {
                    Preparation::OpaqueString
                },
            ),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Self::ShortTerm { .. } => "short-term credential",
            Self::LongTerm { sha256: false, .. } => "long-term credential, MD5 key",
            Self::LongTerm { sha256: true, .. } => "long-term credential, SHA-256 key",
        }
    }
}

/// The outcome of an integrity or fingerprint check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Present and correct.
    Valid,
    /// Present and wrong.
    Invalid,
    /// Not in the message.
    Absent,
    /// Present, but no credential was given to check it.
    Unchecked,
}

impl Verdict {
    fn of(result: Result<(), IntegrityError>) -> Self {
        match result {
            Ok(()) => Self::Valid,
            Err(IntegrityError::Absent) => Self::Absent,
            Err(_) => Self::Invalid,
        }
    }

    /// The word used in both outputs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Absent => "absent",
            Self::Unchecked => "unchecked",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attribute as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeReport {
    /// The RFC name (`"XOR-MAPPED-ADDRESS"`), or `null` for a type this tool does not know.
    pub name: Option<&'static str>,
    /// The type as four hex digits, `"0x0020"`.
    #[serde(rename = "type")]
    pub attr_type: String,
    /// Offset of the attribute header from the start of the message.
    pub offset: usize,
    /// Length of the value without padding.
    pub length: usize,
    /// The decoded value: `"ip:port"` for addresses, numbers as numbers, text as text, opaque
    /// bytes and unknown attributes as hex, small structures as objects.
    pub value: Value,
    /// For MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT: this one's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// For unknown types: whether the type is comprehension-required (below 0x8000), which
    /// makes a server answer 420.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comprehension_required: Option<bool>,
    /// Why a known attribute's value could not be decoded (its `value` is then the raw hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The value as the human listing prints it.
    #[serde(skip)]
    pub text: String,
}

/// A decoded message.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `"request"`, `"indication"`, `"success"` or `"error"`.
    pub class: &'static str,
    /// The method name (`"Binding"`), or its number as `"0x123"` when unknown.
    pub method: String,
    /// The transaction id as 24 hex digits.
    pub transaction_id: String,
    /// Total length in bytes, header included.
    pub length: usize,
    /// Every visible attribute, in wire order.
    pub attributes: Vec<AttributeReport>,
    /// Bytes of attributes after MESSAGE-INTEGRITY(-SHA256) that RFC 8489 says to ignore.
    #[serde(skip_serializing_if = "is_zero")]
    pub ignored_bytes: usize,
    /// The integrity verdict over every integrity attribute present.
    pub integrity: Verdict,
    /// The FINGERPRINT verdict.
    pub fingerprint: Verdict,
    /// Which credential kind was used, for the human listing.
    #[serde(skip)]
    pub credential: Option<&'static str>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Report {
    /// Whether any verdict is `invalid` or any attribute failed to decode: the command exits
    /// non-zero then.
    pub fn has_failure(&self) -> bool {
        self.integrity == Verdict::Invalid || self.fingerprint == Verdict::Invalid
    }

    /// The first attribute whose value could not be decoded, with its offset.
    pub fn first_attribute_error(&self) -> Option<(&AttributeReport, &str)> {
        self.attributes
            .iter()
            .find_map(|a| a.error.as_deref().map(|e| (a, e)))
    }
}

/// Class names as they appear in the JSON.
pub const fn class_name(class: Class) -> &'static str {
    match class {
        Class::Request => "request",
        Class::Indication => "indication",
        Class::Success => "success",
        Class::Error => "error",
    }
}

/// Parses and checks `bytes` as one STUN message.
pub fn decode(bytes: &[u8], credential: Option<&Credential>) -> Result<Report, DecodeError> {
    let key = credential
        .map(Credential::key)
        .transpose()
        .map_err(DecodeError::Credential)?;
    let msg = Message::parse(bytes).map_err(DecodeError::Parse)?;
    let tid = msg.transaction_id();

    let mi = match (&key, msg.has_integrity()) {
        (_, false) => Verdict::Absent,
        (None, true) => Verdict::Unchecked,
        (Some(k), true) => Verdict::of(msg.verify_integrity(k)),
    };
    let mi256 = match (&key, msg.has_integrity_sha256()) {
        (_, false) => Verdict::Absent,
        (None, true) => Verdict::Unchecked,
        (Some(k), true) => Verdict::of(msg.verify_integrity_sha256(k)),
    };
    let integrity = combine(mi, mi256);
    let fingerprint = Verdict::of(msg.verify_fingerprint());

    let mut visible_bytes = 0usize;
    let attributes = msg
        .attributes()
        .map(|raw| {
            visible_bytes += 4 + raw.value.len().next_multiple_of(4);
            let mut report = describe(raw, &tid);
            report.verdict = match raw.attr_type {
                attributes::MESSAGE_INTEGRITY => Some(mi),
                attributes::MESSAGE_INTEGRITY_SHA256 => Some(mi256),
                attributes::FINGERPRINT => Some(fingerprint),
                _ => None,
            };
            report
        })
        .collect();

    let method = msg.method();
    Ok(Report {
        class: class_name(msg.class()),
        method: method
            .name()
            .map_or_else(|| format!("{:#05x}", method.value()), str::to_owned),
        transaction_id: tid.to_string(),
        length: bytes.len(),
        attributes,
        ignored_bytes: (bytes.len() - HEADER_LEN).saturating_sub(visible_bytes),
        integrity,
        fingerprint,
        credential: credential.map(Credential::describe),
    })
}

fn combine(a: Verdict, b: Verdict) -> Verdict {
    use Verdict::{Absent, Invalid, Unchecked, Valid};
    match (a, b) {
        (Invalid, _) | (_, Invalid) => Invalid,
        (Unchecked, _) | (_, Unchecked) => Unchecked,
        (Valid, _) | (_, Valid) => Valid,
        (Absent, Absent) => Absent,
    }
}

/// Why `stun decode` could not produce a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not one valid STUN message.
    Parse(ParseError),
    /// The credential could not be prepared.
    Credential(CredentialError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "not a valid STUN message: {e}"),
            Self::Credential(e) => write!(f, "unusable credential: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn family_name(f: AddressFamily) -> &'static str {
    match f {
        AddressFamily::V4 => "IPv4",
        AddressFamily::V6 => "IPv6",
    }
}

fn algorithm_value(a: &PasswordAlgorithm<'_>) -> (Value, String) {
    let name = match a.algorithm {
        PasswordAlgorithmId::MD5 => Some("MD5"),
        PasswordAlgorithmId::SHA256 => Some("SHA-256"),
        _ => None,
    };
    let mut text = name.map_or_else(|| format!("{:#06x}", a.algorithm.0), str::to_owned);
    let algorithm = name.map_or_else(|| json!(a.algorithm.0), |n| json!(n));
    if a.params.is_empty() {
        (json!({ "algorithm": algorithm }), text)
    } else {
        let params = hex::encode(a.params);
        let _ = write!(text, " (params {params})");
        (json!({ "algorithm": algorithm, "params": params }), text)
    }
}

fn type_text(t: AttributeType) -> String {
    attributes::name(t).map_or_else(|| format!("{:#06x}", t.0), str::to_owned)
}

/// Decodes one attribute's value into JSON and text.
fn value_of(
    raw: RawAttribute<'_>,
    tid: &TransactionId,
) -> Result<Option<(Value, String)>, ParseError> {
    fn get<'a, A: Attribute<'a>>(
        raw: RawAttribute<'a>,
        tid: &TransactionId,
    ) -> Result<A, ParseError> {
        A::decode(raw.value, tid)
    }
    fn addr(a: SocketAddr) -> (Value, String) {
        (json!(a.to_string()), a.to_string())
    }
    fn text(s: &str) -> (Value, String) {
        (json!(s), format!("{s:?}"))
    }
    fn bytes(b: &[u8]) -> (Value, String) {
        let h = hex::encode(b);
        (json!(h), h)
    }
    fn number(n: impl Into<u64> + Copy + fmt::Display) -> (Value, String) {
        (json!(n.into()), n.to_string())
    }
    fn flag() -> (Value, String) {
        (json!(true), "(present)".to_owned())
    }

    let t = raw.attr_type;
    Ok(Some(match t {
        attributes::MAPPED_ADDRESS => addr(get::<MappedAddress>(raw, tid)?.0),
        attributes::XOR_MAPPED_ADDRESS => addr(get::<XorMappedAddress>(raw, tid)?.0),
        attributes::XOR_PEER_ADDRESS => addr(get::<XorPeerAddress>(raw, tid)?.0),
        attributes::XOR_RELAYED_ADDRESS => addr(get::<XorRelayedAddress>(raw, tid)?.0),
        attributes::ALTERNATE_SERVER => addr(get::<AlternateServer>(raw, tid)?.0),
        attributes::RESPONSE_ORIGIN => addr(get::<ResponseOrigin>(raw, tid)?.0),
        attributes::OTHER_ADDRESS => addr(get::<OtherAddress>(raw, tid)?.0),
        attributes::USERNAME => text(get::<Username<'_>>(raw, tid)?.0),
        attributes::REALM => text(get::<Realm<'_>>(raw, tid)?.0),
        attributes::NONCE => text(get::<Nonce<'_>>(raw, tid)?.0),
        attributes::SOFTWARE => text(get::<Software<'_>>(raw, tid)?.0),
        attributes::ALTERNATE_DOMAIN => text(get::<AlternateDomain<'_>>(raw, tid)?.0),
        attributes::DATA => bytes(get::<Data<'_>>(raw, tid)?.0),
        attributes::PADDING => bytes(get::<Padding<'_>>(raw, tid)?.0),
        attributes::USERHASH => bytes(&get::<Userhash>(raw, tid)?.0),
        attributes::MESSAGE_INTEGRITY => bytes(&get::<MessageIntegrity>(raw, tid)?.0),
        attributes::MESSAGE_INTEGRITY_SHA256 => {
            bytes(get::<MessageIntegritySha256<'_>>(raw, tid)?.0)
        }
        attributes::RESERVATION_TOKEN => bytes(&get::<ReservationToken>(raw, tid)?.0),
        attributes::FINGERPRINT => {
            let v = get::<Fingerprint>(raw, tid)?.0;
            (json!(v), format!("{v:#010x}"))
        }
        attributes::PRIORITY => number(get::<Priority>(raw, tid)?.0),
        attributes::LIFETIME => {
            let v = get::<Lifetime>(raw, tid)?.0;
            (json!(v), format!("{v} s"))
        }
        attributes::CACHE_TIMEOUT => {
            let v = get::<CacheTimeout>(raw, tid)?.0;
            (json!(v), format!("{v} s"))
        }
        attributes::CHANNEL_NUMBER => {
            let v = get::<ChannelNumber>(raw, tid)?.0;
            (json!(v), format!("{v:#06x}"))
        }
        attributes::RESPONSE_PORT => number(get::<ResponsePort>(raw, tid)?.0),
        attributes::ICE_CONTROLLED => number(get::<IceControlled>(raw, tid)?.0),
        attributes::ICE_CONTROLLING => number(get::<IceControlling>(raw, tid)?.0),
        attributes::REQUESTED_TRANSPORT => {
            let v = get::<RequestedTransport>(raw, tid)?.0;
            let name = match v {
                17 => " (UDP)",
                6 => " (TCP)",
                _ => "",
            };
            (json!(v), format!("{v}{name}"))
        }
        attributes::REQUESTED_ADDRESS_FAMILY => {
            let f = family_name(get::<RequestedAddressFamily>(raw, tid)?.0);
            (json!(f), f.to_owned())
        }
        attributes::ADDITIONAL_ADDRESS_FAMILY => {
            let f = family_name(get::<AdditionalAddressFamily>(raw, tid)?.0);
            (json!(f), f.to_owned())
        }
        attributes::EVEN_PORT => {
            let r = get::<EvenPort>(raw, tid)?.reserve;
            (json!({ "reserve": r }), format!("reserve={r}"))
        }
        attributes::CHANGE_REQUEST => {
            let c = get::<ChangeRequest>(raw, tid)?;
            (
                json!({ "change_ip": c.change_ip, "change_port": c.change_port }),
                format!("change_ip={} change_port={}", c.change_ip, c.change_port),
            )
        }
        attributes::USE_CANDIDATE => {
            get::<UseCandidate>(raw, tid)?;
            flag()
        }
        attributes::DONT_FRAGMENT => {
            get::<DontFragment>(raw, tid)?;
            flag()
        }
        attributes::ICMP => {
            let i = get::<Icmp>(raw, tid)?;
            (
                json!({ "type": i.icmp_type, "code": i.code, "data": i.error_data }),
                format!("type={} code={} data={}", i.icmp_type, i.code, i.error_data),
            )
        }
        attributes::ERROR_CODE => {
            let e = get::<ErrorCode<'_>>(raw, tid)?;
            (
                json!({ "code": e.code, "reason": e.reason }),
                format!("{} {:?}", e.code, e.reason),
            )
        }
        attributes::ADDRESS_ERROR_CODE => {
            let e = get::<AddressErrorCode<'_>>(raw, tid)?;
            let f = family_name(e.family);
            (
                json!({ "family": f, "code": e.code, "reason": e.reason }),
                format!("{f} {} {:?}", e.code, e.reason),
            )
        }
        attributes::UNKNOWN_ATTRIBUTES => {
            let list: Vec<String> = get::<UnknownAttributes<'_>>(raw, tid)?
                .iter()
                .map(type_text)
                .collect();
            let text = list.join(", ");
            (json!(list), text)
        }
        attributes::PASSWORD_ALGORITHM => algorithm_value(&get::<PasswordAlgorithm<'_>>(raw, tid)?),
        attributes::PASSWORD_ALGORITHMS => {
            let (values, texts): (Vec<Value>, Vec<String>) =
                get::<PasswordAlgorithms<'_>>(raw, tid)?
                    .iter()
                    .map(|a| algorithm_value(&a))
                    .unzip();
            (Value::Array(values), texts.join(", "))
        }
        _ => return Ok(None),
    }))
}

fn describe(raw: RawAttribute<'_>, tid: &TransactionId) -> AttributeReport {
    let t = raw.attr_type;
    let mut report = AttributeReport {
        name: attributes::name(t),
        attr_type: format!("{:#06x}", t.0),
        offset: raw.offset,
        length: raw.value.len(),
        value: Value::Null,
        verdict: None,
        comprehension_required: None,
        error: None,
        text: String::new(),
    };
    match value_of(raw, tid) {
        Ok(Some((value, text))) => {
            report.value = value;
            report.text = text;
        }
        Ok(None) => {
            let h = hex::encode(raw.value);
            report.value = json!(h);
            report.text = if h.is_empty() {
                "(empty)".to_owned()
            } else {
                h
            };
            report.comprehension_required = Some(t.is_comprehension_required());
        }
        Err(e) => {
            let h = hex::encode(raw.value);
            report.value = json!(h);
            report.text = format!("{h} (malformed: {e})");
            report.error = Some(e.to_string());
        }
    }
    report
}

/// The aligned, human-readable listing.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let method = &r.method;
    let class = match r.class {
        "success" => "success response",
        "error" => "error response",
        other => other,
    };
    let _ = writeln!(out, "STUN {method} {class}, {} bytes", r.length);
    let _ = writeln!(out, "  transaction id  {}", r.transaction_id);
    let _ = writeln!(out, "  attributes      {}", r.attributes.len());

    let name_of =
        |a: &AttributeReport| a.name.map_or_else(|| "(unknown)".to_owned(), str::to_owned);
    let name_w = r
        .attributes
        .iter()
        .map(|a| name_of(a).len())
        .max()
        .unwrap_or(0);
    let off_w = r
        .attributes
        .iter()
        .map(|a| a.offset.to_string().len())
        .max()
        .unwrap_or(0);
    let len_w = r
        .attributes
        .iter()
        .map(|a| a.length.to_string().len())
        .max()
        .unwrap_or(0);
    for a in &r.attributes {
        let mut value = a.text.clone();
        if let Some(v) = a.verdict {
            let _ = write!(value, "  [{v}]");
        }
        if a.comprehension_required == Some(true) {
            value.push_str("  [comprehension-required]");
        }
        let _ = writeln!(
            out,
            "    @{:<off_w$}  {:<name_w$}  {}  {:>len_w$}  {}",
            a.offset,
            name_of(a),
            a.attr_type,
            a.length,
            value
        );
    }
    if r.ignored_bytes > 0 {
        let _ = writeln!(
            out,
            "    ({} bytes of attributes after the integrity attribute are ignored, RFC 8489 §14.5)",
            r.ignored_bytes
        );
    }
    let cred = r.credential.map(|c| format!(" ({c})")).unwrap_or_default();
    let note = if r.integrity == Verdict::Unchecked {
        " (no --password or --long-term given)".to_owned()
    } else if r.integrity == Verdict::Absent {
        String::new()
    } else {
        cred
    };
    let _ = writeln!(out, "  integrity       {}{note}", r.integrity);
    let _ = writeln!(out, "  fingerprint     {}", r.fingerprint);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_hex_ignores_whitespace() {
        assert_eq!(parse_hex("00 01\n\t0a ff"), Ok(vec![0, 1, 0x0a, 0xff]));
        assert_eq!(parse_hex("ABcd"), Ok(vec![0xab, 0xcd]));
    }

    #[test]
    fn parse_hex_errors_say_where() {
        assert_eq!(parse_hex("  "), Err(HexError::Empty));
        assert_eq!(parse_hex("abc"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(
            parse_hex("ab x"),
            Err(HexError::InvalidChar { ch: 'x', at: 3 })
        );
        assert_eq!(
            parse_hex("é0"),
            Err(HexError::InvalidChar { ch: 'é', at: 0 })
        );
    }

    #[test]
    fn long_term_spec_keeps_colons_in_password() {
        let Some(Credential::LongTerm {
            username,
            realm,
            password,
            ..
        }) = Credential::parse_long_term("u:r:p:q", false, false)
        else {
            panic!("spec did not parse");
        };
        assert_eq!(
            (username.as_str(), realm.as_str(), password.as_str()),
            ("u", "r", "p:q")
        );
        assert!(Credential::parse_long_term("u:r", false, false).is_none());
    }

    #[test]
    fn verdicts_combine() {
        use Verdict::*;
        assert_eq!(combine(Valid, Absent), Valid);
        assert_eq!(combine(Valid, Invalid), Invalid);
        assert_eq!(combine(Absent, Absent), Absent);
        assert_eq!(combine(Unchecked, Absent), Unchecked);
    }
}
