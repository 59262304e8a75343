//! Long-term credentials on the server: stateless nonces, static users, TURN REST API ephemeral
//! credentials, and the per-source rate limit on 401 answers.

use core::hash::{Hash, Hasher};
use core::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use icebreaker_stun::integrity::{NONCE_COOKIE_PREFIX, NonceCookie};
use sha1::Sha1;
use sha2::Sha256;

use crate::Transport;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (RFC 4648 §4), as the TURN REST API uses for passwords.
pub fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Unpadded base64 of `input` into `out`; returns the characters written.
fn base64_nopad(input: &[u8], out: &mut [u8]) -> usize {
    let mut at = 0;
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            if let Some(slot) = out.get_mut(at) {
                *slot = B64[((n >> (18 - 6 * i)) & 0x3f) as usize];
            }
            at += 1;
        }
    }
    at
}

fn unbase64_nopad(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut acc = 0u32;
    let mut nbits = 0;
    let mut at = 0;
    for &c in input {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            *out.get_mut(at)? = (acc >> nbits) as u8;
            at += 1;
        }
    }
    Some(at)
}

/// The TURN REST API password for `username` (draft-uberti-behave-turn-rest):
/// `base64(HMAC-SHA1(secret, username))`.
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(username.as_bytes());
    base64(&mac.finalize().into_bytes())
}

/// The TURN REST API username for `user` valid until `expiry` (UNIX seconds): `"expiry:user"`.
pub fn rest_username(expiry: u64, user: &str) -> String {
    format!("{expiry}:{user}")
}

/// The expiry of a REST API username, if it has the `"expiry:user"` (or bare `"expiry"`) form.
pub(crate) fn rest_expiry(username: &str) -> Option<u64> {
    let head = username.split_once(':').map_or(username, |(h, _)| h);
    if head.is_empty() || head.len() > 20 || !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    head.parse().ok()
}

/// Length of the MAC kept in a nonce. 48 bits: a forged nonce only saves an attacker one round
/// trip (the password is still needed), so this is about replay across addresses, not secrecy.
const NONCE_MAC_LEN: usize = 6;
/// Raw nonce payload: a 32-bit timestamp and the truncated MAC.
const NONCE_RAW: usize = 4 + NONCE_MAC_LEN;
/// Characters of the encoded payload.
const NONCE_B64: usize = (NONCE_RAW * 8).div_ceil(6);
/// Longest nonce: the 13-character cookie and the payload.
pub(crate) const MAX_NONCE: usize = 13 + NONCE_B64;

/// A nonce ready to be written: up to [`MAX_NONCE`] ASCII bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NonceBuf {
    bytes: [u8; MAX_NONCE],
    len: usize,
}

impl NonceBuf {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII base64 characters and the cookie are ever written.
        core::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

/// Outcome of checking a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Ours, for this client, and fresh. Carries the security features it advertised.
    Valid(Option<NonceCookie>),
    /// Expired, issued to another address, or not ours: answer 438.
    Stale(Option<NonceCookie>),
}

/// Mints and checks stateless nonces: `[cookie] base64(timestamp ‖ HMAC(secret, timestamp ‖
/// features ‖ client address ‖ transport))`. Nothing is stored per client.
#[derive(Clone)]
pub(crate) struct NonceMinter {
    mac: Hmac<Sha256>,
    epoch: Instant,
    lifetime: Duration,
}

impl core::fmt::Debug for NonceMinter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NonceMinter")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl NonceMinter {
    pub(crate) fn new(secret: &[u8; 32], epoch: Instant, lifetime: Duration) -> Self {
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        Self {
            mac,
            epoch,
            lifetime,
        }
    }

    fn tick(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    fn tag(
        &self,
        ts: u32,
        cookie: Option<NonceCookie>,
        client: SocketAddr,
        transport: Transport,
    ) -> [u8; NONCE_MAC_LEN] {
        let mut mac = self.mac.clone();
        mac.update(&ts.to_be_bytes());
        match cookie {
            Some(c) => mac.update(&c.encode()),
            None => mac.update(b"-"),
        }
        match client.ip() {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        mac.update(&client.port().to_be_bytes());
        mac.update(&[transport as u8]);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; NONCE_MAC_LEN];
        out.copy_from_slice(full.get(..NONCE_MAC_LEN).unwrap_or(&[0; NONCE_MAC_LEN]));
        out
    }

    pub(crate) fn mint(
        &self,
        now: Instant,
        client: SocketAddr,
        transport: Transport,
        cookie: Option<NonceCookie>,
    ) -> NonceBuf {
        let ts = self.tick(now);
        let mut raw = [0u8; NONCE_RAW];
        raw[..4].copy_from_slice(&ts.to_be_bytes());
        raw[4..].copy_from_slice(&self.tag(ts, cookie, client, transport));
        let mut out = NonceBuf {
            bytes: [0; MAX_NONCE],
            len: 0,
        };
        if let Some(c) = cookie {
            out.bytes[..13].copy_from_slice(&c.encode());
            out.len = 13;
        }
        out.len += base64_nopad(&raw, &mut out.bytes[out.len..]);
        out
    }

    pub(crate) fn check(
        &self,
        now: Instant,
        client: SocketAddr,
        transport: Transport,
        nonce: &str,
    ) -> NonceCheck {
        let cookie = NonceCookie::parse(nonce);
        let payload = match cookie {
            Some(_) => nonce.get(NONCE_COOKIE_PREFIX.len() + 4..),
            None => Some(nonce),
        };
        let Some(payload) = payload.filter(|p| p.len() == NONCE_B64) else {
            return NonceCheck::Stale(cookie);
        };
        let mut raw = [0u8; NONCE_RAW + 1];
        if unbase64_nopad(payload.as_bytes(), &mut raw) != Some(NONCE_RAW) {
            return NonceCheck::Stale(cookie);
        }
        let ts = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let tag = self.tag(ts, cookie, client, transport);
        // Constant-time comparison of the truncated tag.
        let diff = tag
            .iter()
            .zip(&raw[4..NONCE_RAW])
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        let age = u64::from(self.tick(now).saturating_sub(ts));
        if diff != 0 || ts > self.tick(now) || age >= self.lifetime.as_secs() {
            NonceCheck::Stale(cookie)
        } else {
            NonceCheck::Valid(cookie)
        }
    }
}

/// A per-source token bucket on 401 answers, in a fixed-size table: memory does not grow with
/// the number of sources. Sources are hashed with a secret key into slots; a colliding source
/// takes the slot over (with a fresh bucket).
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    slots: Vec<Slot>,
    key: [u8; 16],
    per_second: u32,
    burst: u32,
    epoch: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    ip: Option<IpAddr>,
    /// Tokens in thousandths.
    milli: u64,
    /// Last refill, milliseconds since the epoch.
    at_ms: u64,
}

impl RateLimiter {
    pub(crate) fn new(
        size: usize,
        key: [u8; 16],
        per_second: u32,
        burst: u32,
        epoch: Instant,
    ) -> Self {
        let size = size.max(1);
        Self {
            slots: vec![
                Slot {
                    ip: None,
                    milli: 0,
                    at_ms: 0
                };
                size
            ],
            key,
            per_second,
            burst,
            epoch,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Takes one token for `ip`; false when its bucket is empty.
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let mut h = std::hash::DefaultHasher::new();
        self.key.hash(&mut h);
        ip.hash(&mut h);
        let n = self.slots.len();
        let idx = (h.finish() % n as u64) as usize;
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let full = u64::from(self.burst) * 1000;
        let Some(slot) = self.slots.get_mut(idx) else {
            return false;
        };
        if slot.ip != Some(ip) {
            *slot = Slot {
                ip: Some(ip),
                milli: full,
                at_ms: now_ms,
            };
        }
        let elapsed = now_ms.saturating_sub(slot.at_ms);
        slot.milli = slot
            .milli
            .saturating_add(elapsed.saturating_mul(u64::from(self.per_second)))
            .min(full);
        slot.at_ms = now_ms;
        if slot.milli >= 1000 {
            slot.milli -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn rest_password_matches_coturn_example() {
        // coturn's documentation: secret "north", username "1433895918:gorst".
        assert_eq!(rest_expiry("1433895918:gorst"), Some(1_433_895_918));
        assert_eq!(rest_password(b"north", "1433895918:gorst").len(), 28);
        assert_eq!(rest_expiry("gorst"), None);
    }

    // The nonce lifetime, address binding and the rate limiter are exercised through the
    // public API in tests/protocol.rs and tests/abuse.rs (this crate reads no clock).
}
