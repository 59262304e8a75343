//! Credentials and message integrity: short-term and long-term keys (RFC 8489 §9), password
//! preparation (RFC 8265 OpaqueString, RFC 4013 SASLprep), USERHASH and the nonce cookie.

use core::fmt;
use std::borrow::Cow;

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::attributes::PasswordAlgorithmId;
use crate::error::{CredentialError, IntegrityError};
use crate::message::Covered;

/// How a password (or realm) is prepared before it is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preparation {
    /// RFC 8265 OpaqueString, what RFC 8489 requires.
    #[default]
    OpaqueString,
    /// RFC 4013 SASLprep, what RFC 5389 peers (and the RFC 5769 vectors) use.
    SaslPrep,
    /// The bytes as given.
    None,
}

/// Enforces the OpaqueString profile of RFC 8265 §4.2 on a string. Its code points must be
/// allowed in the PRECIS FreeformClass (RFC 8264 §4.3: no controls, unassigned,
/// default-ignorable or old Hangul jamo code points, and the contextual rules for joiners, the
/// middle dot and the like hold); non-ASCII spaces become U+0020; the result is NFC-normalised,
/// and must again be allowed in the class and not empty. Printable ASCII is returned as it is,
/// borrowed; anything else is checked against the `precis-core` crate's tables.
///
/// The class is checked on the input (RFC 8265 §4.2.1's preparation, which enforcement
/// includes) and again after normalisation (RFC 8264 §7 puts the behavioural rules last):
/// U+0387 GREEK ANO TELEIA is allowed but normalises to U+00B7 MIDDLE DOT, which is allowed
/// only between two `l`s, so checking the input alone would yield a string that the profile
/// refuses when it is prepared again. A refusal names the first offending code point, by
/// character index, of the input or (after normalisation) of the normalised string.
pub fn opaque_string(s: &str) -> Result<Cow<'_, str>, CredentialError> {
    use precis_core::profile::Rules as _;
    if s.is_empty() {
        return Err(CredentialError::Empty);
    }
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        // Printable ASCII is already in its OpaqueString form.
        return Ok(Cow::Borrowed(s));
    }
    let refuse = |s: &str| match first_outside_freeform(s) {
        Some(at) => Err(CredentialError::Prohibited { at }),
        None => Ok(()),
    };
    refuse(s)?;
    let profile = precis_profiles::OpaqueString::new();
    let mapped = profile
        .additional_mapping_rule(s)
        .and_then(|m| profile.normalization_rule(m))
        .map_err(|_| CredentialError::Prohibited { at: 0 })?;
    refuse(&mapped)?;
    Ok(mapped)
}

/// The character index of the first code point of `s` that the PRECIS FreeformClass does not
/// allow, its contextual rules included (a rule that would look past either end refuses).
fn first_outside_freeform(s: &str) -> Option<usize> {
    use precis_core::{DerivedPropertyValue as Value, FreeformClass, StringClass as _};
    let class = FreeformClass::default();
    s.chars().enumerate().find_map(|(at, c)| {
        let allowed = match class.get_value_from_char(c) {
            Value::PValid | Value::SpecClassPval => true,
            Value::ContextJ | Value::ContextO => precis_core::context::get_context_rule(c.into())
                .is_some_and(|rule| rule(s, at) == Ok(true)),
            Value::SpecClassDis | Value::Disallowed | Value::Unassigned => false,
        };
        (!allowed).then_some(at)
    })
}

/// Prepares a string as `prep` says.
pub fn prepare(s: &str, prep: Preparation) -> Result<Cow<'_, str>, CredentialError> {
    match prep {
        Preparation::OpaqueString => opaque_string(s),
        Preparation::SaslPrep => stringprep::saslprep(s).map_err(|_| CredentialError::SaslPrep),
        Preparation::None => Ok(Cow::Borrowed(s)),
    }
}

/// An integrity key with its HMAC state precomputed: the key schedule (ipad/opad blocks) is
/// hashed once when the key is made, and every sign or verify starts from a copy of that state.
#[derive(Clone)]
pub struct Key {
    sha1: HmacSha1,
    sha256: Hmac<Sha256>,
}

/// HMAC-SHA1 (RFC 2104) with the key schedule done once: the SHA-1 states after the
/// `key ^ ipad` and `key ^ opad` blocks. Signing a STUN message then costs exactly the
/// compressions its bytes need, with no generic buffering in between: this is the hot path of
/// every ICE check.
#[derive(Clone)]
struct HmacSha1 {
    inner: [u32; 5],
    outer: [u32; 5],
}

const SHA1_INIT: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

impl HmacSha1 {
    fn new(key: &[u8]) -> Self {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..20].copy_from_slice(&Sha1::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = SHA1_INIT;
        let mut outer = SHA1_INIT;
        sha1::block_api::compress(&mut inner, &[block.map(|b| b ^ 0x36)]);
        sha1::block_api::compress(&mut outer, &[block.map(|b| b ^ 0x5c)]);
        Self { inner, outer }
    }

    /// The tag of the concatenation of `parts`.
    fn tag(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut h = Sha1Stream::new(self.inner);
        parts.iter().for_each(|p| h.update(p));
        let inner = h.finish();
        let mut h = Sha1Stream::new(self.outer);
        h.update(&inner);
        h.finish()
    }
}

/// SHA-1 over data fed in pieces, continuing from a state that has already absorbed one block.
struct Sha1Stream {
    state: [u32; 5],
    buf: [u8; 64],
    fill: usize,
    /// Bytes absorbed, including the key block.
    total: u64,
}

impl Sha1Stream {
    fn new(state: [u32; 5]) -> Self {
        Self {
            state,
            buf: [0; 64],
            fill: 0,
            total: 64,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.fill > 0 {
            let take = (64 - self.fill).min(data.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&data[..take]);
            self.fill += take;
            data = &data[take..];
            if self.fill < 64 {
                return;
            }
            sha1::block_api::compress(&mut self.state, &[self.buf]);
            self.fill = 0;
        }
        let (blocks, rest) = data.as_chunks::<64>();
        if !blocks.is_empty() {
            sha1::block_api::compress(&mut self.state, blocks);
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.fill = rest.len();
    }

    fn finish(mut self) -> [u8; 20] {
        let bits = self.total.wrapping_mul(8);
        self.buf[self.fill] = 0x80;
        self.buf[self.fill + 1..].fill(0);
        if self.fill >= 56 {
            sha1::block_api::compress(&mut self.state, &[self.buf]);
            self.buf = [0; 64];
        }
        self.buf[56..].copy_from_slice(&bits.to_be_bytes());
        sha1::block_api::compress(&mut self.state, &[self.buf]);
        let mut out = [0u8; 20];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A key from raw HMAC key bytes.
    pub fn new(raw: &[u8]) -> Self {
        Self {
            // HMAC accepts keys of any length, so these cannot fail.
            sha1: HmacSha1::new(raw),
            sha256: <Hmac<Sha256> as KeyInit>::new_from_slice(raw)
                .unwrap_or_else(|_| unreachable!()),
        }
    }

    /// A short-term key (RFC 8489 §9.1.1): the OpaqueString-prepared password.
    pub fn short_term(password: &str) -> Result<Self, CredentialError> {
        Ok(Self::new(opaque_string(password)?.as_bytes()))
    }

    /// A long-term key (RFC 8489 §9.2.2): `MD5(username ":" realm ":" password)` or its SHA-256
    /// counterpart, with the realm and password prepared as `prep` says.
    pub fn long_term(
        username: &str,
        realm: &str,
        password: &str,
        algorithm: PasswordAlgorithmId,
        prep: Preparation,
    ) -> Result<Self, CredentialError> {
        let raw = long_term_key(username, realm, password, algorithm, prep)?;
        Ok(Self::new(raw.as_slice()))
    }

    pub(crate) fn sign_sha1(&self, covered: &[u8]) -> [u8; 20] {
        self.sha1.tag(&[covered])
    }

    pub(crate) fn sign_sha256(&self, covered: &[u8]) -> [u8; 32] {
        let mut mac = self.sha256.clone();
        mac.update(covered);
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn verify_sha1(&self, c: Covered<'_>, tag: &[u8]) -> Result<(), IntegrityError> {
        let expected = self.sha1.tag(&[c.head, &c.length, c.rest]);
        // Constant-time comparison (`ct_eq` on slices of different lengths is false).
        if bool::from(expected[..].ct_eq(tag)) {
            Ok(())
        } else {
            Err(IntegrityError::Mismatch)
        }
    }

    pub(crate) fn verify_sha256(&self, c: Covered<'_>, tag: &[u8]) -> Result<(), IntegrityError> {
        let mut mac = self.sha256.clone();
        mac.update(c.head);
        mac.update(&c.length);
        mac.update(c.rest);
        // RFC 8489 §14.6: a truncated tag is the leftmost bytes of the HMAC. Constant time.
        mac.verify_truncated_left(tag)
            .map_err(|_| IntegrityError::Mismatch)
    }
}

/// Raw long-term key bytes: 16 for MD5, 32 for SHA-256.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LongTermKey {
    bytes: [u8; 32],
    len: u8,
}

impl fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LongTermKey(..)")
    }
}

impl LongTermKey {
    /// The key bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Computes the raw long-term key of RFC 8489 §9.2.2: `MD5(username ":" realm ":" password)`
/// or, for SHA-256, its SHA-256 counterpart.
///
/// # Errors
/// [`CredentialError::UnsupportedAlgorithm`] for any algorithm other than MD5 and SHA-256 (the
/// two RFC 8489 defines; a key derived some other way would never verify), or the preparation's
/// error for the realm or password.
pub fn long_term_key(
    username: &str,
    realm: &str,
    password: &str,
    algorithm: PasswordAlgorithmId,
    prep: Preparation,
) -> Result<LongTermKey, CredentialError> {
    if algorithm != PasswordAlgorithmId::MD5 && algorithm != PasswordAlgorithmId::SHA256 {
        return Err(CredentialError::UnsupportedAlgorithm(algorithm.0));
    }
    let realm = prepare(realm, prep)?;
    let password = prepare(password, prep)?;
    let mut out = LongTermKey {
        bytes: [0; 32],
        len: 0,
    };
    let parts = [
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ];
    if algorithm == PasswordAlgorithmId::SHA256 {
        let mut h = Sha256::new();
        parts.iter().for_each(|p| h.update(p));
        out.bytes.copy_from_slice(&h.finalize());
        out.len = 32;
    } else {
        let mut h = Md5::new();
        parts.iter().for_each(|p| h.update(p));
        out.bytes[..16].copy_from_slice(&h.finalize());
        out.len = 16;
    }
    Ok(out)
}

/// USERHASH (RFC 8489 §14.4): `SHA-256(OpaqueString(username) ":" OpaqueString(realm))`.
pub fn userhash(username: &str, realm: &str) -> Result<[u8; 32], CredentialError> {
    let user = opaque_string(username)?;
    let realm = opaque_string(realm)?;
    let mut h = Sha256::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    Ok(h.finalize().into())
}

/// The nonce cookie of RFC 8489 §9.2: a NONCE starting with `obMatJos2` followed by four base64
/// characters holding 24 security-feature bits. Bit 0 is the least significant of the 24
/// (verified erratum 6290; the RFC's own example in Appendix B.1, `obMatJos2AAAC` with USERHASH,
/// reads that way): `AAAB` offers PASSWORD-ALGORITHMS, `AAAC` username anonymity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NonceCookie {
    /// Bit 0: the server supports PASSWORD-ALGORITHMS.
    pub password_algorithms: bool,
    /// Bit 1: the server supports USERHASH (username anonymity).
    pub username_anonymity: bool,
    /// The other 22 bits (2 to 23), as received, in place.
    pub reserved: u32,
}

/// The nonce cookie prefix.
pub const NONCE_COOKIE_PREFIX: &str = "obMatJos2";

/// The security-feature bits no feature is assigned to (2 to 23).
const RESERVED_BITS: u32 = 0xff_fffc;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl NonceCookie {
    fn bits(&self) -> u32 {
        u32::from(self.password_algorithms)
            | (u32::from(self.username_anonymity) << 1)
            | (self.reserved & RESERVED_BITS)
    }

    /// Reads the cookie at the start of a NONCE, if there is one.
    pub fn parse(nonce: &str) -> Option<Self> {
        let rest = nonce.strip_prefix(NONCE_COOKIE_PREFIX)?;
        let chars = rest.as_bytes().get(..4)?;
        let mut bits = 0u32;
        for &c in chars {
            let v = B64.iter().position(|&b| b == c)? as u32;
            bits = (bits << 6) | v;
        }
        Some(Self {
            password_algorithms: bits & 1 != 0,
            username_anonymity: bits & 2 != 0,
            reserved: bits & RESERVED_BITS,
        })
    }

    /// The 13-character prefix to put in front of a nonce.
    pub fn encode(&self) -> [u8; 13] {
        let mut out = [0u8; 13];
        out[..9].copy_from_slice(NONCE_COOKIE_PREFIX.as_bytes());
        let bits = self.bits();
        for i in 0..4 {
            out[9 + i] = B64[((bits >> (18 - 6 * i)) & 0x3f) as usize];
        }
        out
    }
}

#[cfg(test)]
mod hmac_sha1_tests {
    use hmac::{Hmac, KeyInit, Mac};
    use sha1::Sha1;

    use super::HmacSha1;

    fn reference(key: &[u8], data: &[u8]) -> [u8; 20] {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// The hand-rolled HMAC-SHA1 agrees with the `hmac` crate for every key and message length
    /// around the block boundaries, and for any split of the message into pieces.
    #[test]
    fn matches_the_hmac_crate() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for key_len in [0usize, 1, 20, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8 ^ 0xa5).collect();
            let h = HmacSha1::new(&key);
            for len in (0..=200).chain([255, 256, 300]) {
                let msg = &data[..len];
                let want = reference(&key, msg);
                assert_eq!(h.tag(&[msg]), want, "key {key_len} len {len}");
                let (a, rest) = msg.split_at(len / 3);
                let (b, c) = rest.split_at(rest.len() / 2);
                assert_eq!(h.tag(&[a, b, c]), want, "split key {key_len} len {len}");
                assert_eq!(h.tag(&[&[], msg, &[]]), want);
            }
        }
    }

    /// RFC 2202 test case 2.
    #[test]
    fn rfc_2202_case_2() {
        let h = HmacSha1::new(b"Jefe");
        let tag = h.tag(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            tag,
            [
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
            ]
        );
    }
}
