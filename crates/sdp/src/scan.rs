//! Byte-level primitives for the hand-written line grammars: a cursor (`&mut &str`, the rest of
//! the line) advanced over runs of one character class, single spaces and decimal numbers.
//!
//! The lines browsers send most (`a=rtpmap`, `a=rtcp-fb`, `a=candidate` ...) go through these
//! instead of nom combinators: each field is one table-driven loop, a failure is a [`PErr`] at
//! the exact byte where the grammar broke, and nothing is allocated.

use crate::error::ErrorKind;
use crate::grammar::PErr;

/// `token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E`.
pub(crate) const TOKEN: u8 = 1;
/// `ice-char = ALPHA / DIGIT / "+" / "/"`.
pub(crate) const ICE: u8 = 2;
/// `non-ws-string = 1*(VCHAR/%x80-FF)`.
pub(crate) const NON_WS: u8 = 4;
/// Characters of an IP address or an FQDN (including mDNS `.local` names and IPv6 zones).
pub(crate) const ADDR: u8 = 8;
/// `DIGIT`.
pub(crate) const DIGIT: u8 = 16;
/// `rid-id = 1*(alpha-numeric / "-" / "_")`.
pub(crate) const RID: u8 = 32;
/// Non-whitespace except `/` (a connection address before its `/ttl`).
pub(crate) const CONN: u8 = 64;
/// Non-whitespace except `:` (an attribute name).
pub(crate) const ATTR_NAME: u8 = 128;

// Every class either excludes all bytes >= 0x80 or includes all of them, so a run of one class
// always ends on an ASCII byte or at the end: on a char boundary. Splitting there is sound on
// `&str` without decoding characters.
const fn class_of(b: u8) -> u8 {
    let mut f = 0;
    if matches!(b, 0x21 | 0x23..=0x27 | 0x2a..=0x2b | 0x2d..=0x2e | 0x30..=0x39 | 0x41..=0x5a | 0x5e..=0x7e)
    {
        f |= TOKEN;
    }
    if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
        f |= ICE;
    }
    if b > b' ' && b != 0x7f {
        f |= NON_WS;
        if b != b'/' {
            f |= CONN;
        }
        if b != b':' {
            f |= ATTR_NAME;
        }
    }
    if b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'_' | b'%') {
        f |= ADDR;
    }
    if b.is_ascii_digit() {
        f |= DIGIT;
    }
    if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
        f |= RID;
    }
    f
}

/// The 256-entry table of the class bits that the `const fn` `$class_of` gives each byte.
macro_rules! class_table {
    ($class_of:ident) => {{
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $class_of(i as u8);
            i += 1;
        }
        t
    }};
}
pub(crate) use class_table;

static CLASS: [u8; 256] = class_table!(class_of);

/// Whether `b` is in `class`.
#[inline(always)]
pub(crate) fn is(b: u8, class: u8) -> bool {
    // Indexing a 256-entry table with a `u8` cannot go out of bounds.
    CLASS[usize::from(b)] & class != 0
}

/// Length of the run of `class` bytes at the start of `b`.
#[inline(always)]
pub(crate) fn run(b: &[u8], class: u8) -> usize {
    b.iter().position(|&x| !is(x, class)).unwrap_or(b.len())
}

/// [`run`] for `token` fields that are usually long (stream ids): eight bytes at a time while
/// they all belong (one test of the eight table entries), then byte by byte. A `token` has too
/// many holes for [`run_words`]'s arithmetic to cost less than the table.
#[inline(always)]
pub(crate) fn run_long(b: &[u8], class: u8) -> usize {
    let mut n = 0;
    while let Some(c) = b.get(n..n + 8).and_then(|c| <&[u8; 8]>::try_from(c).ok()) {
        let all = c.iter().fold(class, |m, &x| m & CLASS[usize::from(x)]);
        if all == 0 {
            break;
        }
        n += 8;
    }
    n + run(b.get(n..).unwrap_or(&[]), class)
}

/// [`run`] for fields that are usually long (addresses, ICE passwords, URIs, attribute names)
/// of the classes that are a few ranges of bytes (`NON_WS`, `CONN`, `ATTR_NAME`, `ICE`,
/// `ADDR`): eight bytes at a time while eight are left, each word tested with a few arithmetic
/// operations ([`members`]) instead of eight table lookups; the last bytes go one by one.
#[inline(always)]
pub(crate) fn run_words(b: &[u8], class: u8) -> usize {
    let mut n = 0;
    while let Some(c) = b.get(n..n + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let outside = !members(u64::from_le_bytes(c), class) & HIGH;
        if outside != 0 {
            // The first byte outside the class: the lowest flagged one.
            return n + (outside.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + run(b.get(n..).unwrap_or(&[]), class)
}

/// [`take`] over [`run_words`].
#[inline(always)]
pub(crate) fn take_words<'a>(
    i: &mut &'a str,
    class: u8,
    what: &'static str,
) -> Result<&'a str, PErr<'a>> {
    let n = run_words(i.as_bytes(), class);
    if n == 0 {
        return Err(expected(i, what));
    }
    advance(i, n)
}

/// `0x01` in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
const HIGH: u64 = ONES * 0x80;

/// The high bit of each byte of `w` that lies in `lo..=hi`, for bytes below `0x80`: adding
/// `0x80 - lo` sets a byte's high bit from `lo` on, adding `0x7f - hi` from `hi + 1` on, and
/// neither addition carries into the next byte.
#[inline(always)]
const fn in_range(w: u64, lo: u8, hi: u8) -> u64 {
    let from_lo = w.wrapping_add(ONES * (0x80 - lo as u64));
    let above_hi = w.wrapping_add(ONES * (0x7f - hi as u64));
    from_lo & !above_hi & HIGH
}

/// The high bit of each byte of `w` (eight bytes, the first in the low byte) that belongs to
/// `class` (one of those that [`run_words`] names), exactly as [`CLASS`] says. The ranges are
/// tested on the low seven bits of every byte; bytes from `0x80` on belong to the
/// non-whitespace classes and to no other.
#[inline(always)]
fn members(w: u64, class: u8) -> u64 {
    let high = w & HIGH;
    let low = w & !HIGH;
    let digit = in_range(low, b'0', b'9');
    let alpha = in_range(low | (ONES * 0x20), b'a', b'z');
    let not_ws = in_range(low, 0x21, 0x7e);
    match class {
        NON_WS => high | not_ws,
        CONN => high | (not_ws & !in_range(low, b'/', b'/')),
        ATTR_NAME => high | (not_ws & !in_range(low, b':', b':')),
        ICE => !high & (digit | alpha | in_range(low, b'+', b'+') | in_range(low, b'/', b'/')),
        // ALPHA / DIGIT / "." / ":" / "-" / "_" / "%".
        ADDR => {
            !high
                & (alpha
                    | in_range(low, b'-', b'.')
                    | in_range(low, b'0', b':')
                    | in_range(low, b'_', b'_')
                    | in_range(low, b'%', b'%'))
        }
        // Not called for the other classes.
        _ => 0,
    }
}

/// The number of items when the whole of `b` is `item *(SP item)` with items runs of
/// `NON_WS` (no space at either end, no two spaces together); `None` otherwise. Eight bytes at
/// a time, with no branch per byte: for long space-separated lists that run to the end of the
/// line (a candidate's extension attributes). A caller that must say where such a list breaks
/// reads it again with [`run`].
#[inline]
pub(crate) fn items_to_end(b: &[u8]) -> Option<usize> {
    if matches!(b.first(), None | Some(b' ')) || b.last() == Some(&b' ') {
        return None;
    }
    // Flags, each in the high bit of the byte it is about: bytes outside `NON_WS` and SP;
    // spaces right after a space. And the spaces so far.
    let (mut bad, mut doubled, mut spaces_seen) = (0u64, 0u64, 0usize);
    // For the word `w` whose bytes flagged in `keep` are still to check (the others were
    // checked as part of the word before) and whose first byte follows a space when `carry`
    // has that byte's flag: the flags of `w`, and the flag of its last byte being a space.
    let mut word = |w: u64, keep: u64, carry: u64| {
        let high = w & HIGH;
        let low = w & !HIGH;
        let spaces = in_range(low, b' ', b' ') & !high;
        let space = spaces & keep;
        bad |= !(high | in_range(low, b' ', 0x7e)) & keep;
        doubled |= space & ((spaces << 8) | carry);
        // One flag per space in the high bit of its byte: at most eight, summed into the top
        // byte by the multiply (no carry), and added up across words without overflow.
        spaces_seen += ((space >> 7).wrapping_mul(ONES) >> 56) as usize;
        space >> 56
    };
    let load = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
    let mut words = b.chunks_exact(8);
    let mut carry = 0;
    for c in &mut words {
        carry = word(load(c), HIGH, carry);
    }
    let tail = words.remainder().len();
    if tail > 0 {
        if let Some(last) = b.len().checked_sub(8).and_then(|from| b.get(from..)) {
            // The last eight bytes, overlapping the word before: only their last `tail` bytes
            // are new, and the byte before those is in the word, so no carry is needed.
            word(load(last), HIGH << (8 * (8 - tail)), 0);
        } else {
            // Fewer than eight bytes in all: padded with a member of the class, which changes
            // neither verdict nor count.
            let mut w = [b'x'; 8];
            for (to, &from) in w.iter_mut().zip(b) {
                *to = from;
            }
            word(u64::from_le_bytes(w), HIGH, 0);
        }
    }
    if bad | doubled != 0 {
        return None;
    }
    Some(spaces_seen + 1)
}

/// [`take`] over [`run_long`].
#[inline(always)]
pub(crate) fn take_long<'a>(
    i: &mut &'a str,
    class: u8,
    what: &'static str,
) -> Result<&'a str, PErr<'a>> {
    let n = run_long(i.as_bytes(), class);
    if n == 0 {
        return Err(expected(i, what));
    }
    advance(i, n)
}

/// One or more digits, found a word at a time ([`long_digits`]): for the session id of `o=`,
/// which browsers fill with 19 digits.
#[inline(always)]
pub(crate) fn take_digits_long<'a>(
    i: &mut &'a str,
    what: &'static str,
) -> Result<&'a str, PErr<'a>> {
    let (n, _) = long_digits(i.as_bytes());
    if n == 0 {
        return Err(expected(i, what));
    }
    advance(i, n)
}

/// "expected `what`" at `at`.
#[cold]
#[inline(never)]
pub(crate) fn expected<'a>(at: &'a str, what: &'static str) -> PErr<'a> {
    PErr {
        at,
        kind: ErrorKind::Syntax { expected: what },
    }
}

/// An error of `kind` at `at`.
#[cold]
#[inline(never)]
pub(crate) fn error(at: &str, kind: ErrorKind) -> PErr<'_> {
    PErr { at, kind }
}

/// Takes the first `n` bytes of `i`. `n` is always a char boundary here (see [`CLASS`]); if it
/// were not, the error says so instead of panicking.
#[inline(always)]
pub(crate) fn advance<'a>(i: &mut &'a str, n: usize) -> Result<&'a str, PErr<'a>> {
    match i.split_at_checked(n) {
        Some((taken, rest)) => {
            *i = rest;
            Ok(taken)
        }
        None => Err(expected(i, "a character boundary")),
    }
}

/// One or more bytes of `class`; "expected `what`" otherwise.
#[inline(always)]
pub(crate) fn take<'a>(
    i: &mut &'a str,
    class: u8,
    what: &'static str,
) -> Result<&'a str, PErr<'a>> {
    let n = run(i.as_bytes(), class);
    if n == 0 {
        return Err(expected(i, what));
    }
    advance(i, n)
}

/// A `token` (RFC 8866 §9).
#[inline(always)]
pub(crate) fn token<'a>(i: &mut &'a str, what: &'static str) -> Result<&'a str, PErr<'a>> {
    take(i, TOKEN, what)
}

/// Consumes `c` if it is next.
#[inline(always)]
pub(crate) fn eat(i: &mut &str, c: u8) -> bool {
    // `strip_prefix` with a char knows that the rest starts on a char boundary, where
    // `get(1..)` would check it again.
    match i.strip_prefix(char::from(c)) {
        Some(rest) => {
            *i = rest;
            true
        }
        None => false,
    }
}

/// Consumes the literal `s` if it is next.
#[inline(always)]
pub(crate) fn eat_str(i: &mut &str, s: &str) -> bool {
    match i.strip_prefix(s) {
        Some(rest) => {
            *i = rest;
            true
        }
        None => false,
    }
}

/// Exactly one SP; "expected space" otherwise.
#[inline(always)]
pub(crate) fn sp<'a>(i: &mut &'a str) -> Result<(), PErr<'a>> {
    if eat(i, b' ') {
        Ok(())
    } else {
        Err(expected(i, "space"))
    }
}

/// The rest of the line, at least one byte (the driver has already refused CR, LF and NUL).
#[inline(always)]
pub(crate) fn rest1<'a>(i: &mut &'a str, what: &'static str) -> Result<&'a str, PErr<'a>> {
    if i.is_empty() {
        return Err(expected(i, what));
    }
    Ok(std::mem::take(i))
}

/// The line must end here; "expected end of line" otherwise.
#[inline(always)]
pub(crate) fn end<'a>(i: &'a str) -> Result<(), PErr<'a>> {
    if i.is_empty() {
        Ok(())
    } else {
        Err(expected(i, "end of line"))
    }
}

/// Decimal digits (at least one, else "expected `what`") into `T`; a value that does not fit is
/// [`ErrorKind::NumberOutOfRange`] at the digits.
#[inline(always)]
pub(crate) fn num<'a, T: TryFrom<u64>>(i: &mut &'a str, what: &'static str) -> Result<T, PErr<'a>> {
    number(i, what, short_digits)
}

/// [`num`] for numbers that usually have eight digits or more (ICE priorities, SSRCs), read a
/// word at a time ([`long_digits`]).
#[inline(always)]
pub(crate) fn num_long<'a, T: TryFrom<u64>>(
    i: &mut &'a str,
    what: &'static str,
) -> Result<T, PErr<'a>> {
    number(i, what, long_digits)
}

#[inline(always)]
fn number<'a, T: TryFrom<u64>>(
    i: &mut &'a str,
    what: &'static str,
    digits: fn(&[u8]) -> (usize, u64),
) -> Result<T, PErr<'a>> {
    let (n, v) = digits(i.as_bytes());
    if n == 0 {
        return Err(expected(i, what));
    }
    let digits = advance(i, n)?;
    // Up to 19 digits always fit in a u64; longer runs (leading zeros) take the careful path.
    let v = if n > 19 {
        checked_value(digits)
    } else {
        Some(v)
    };
    match v.map(T::try_from) {
        Some(Ok(t)) => Ok(t),
        _ => Err(error(digits, ErrorKind::NumberOutOfRange)),
    }
}

/// The length of the run of ASCII digits at the start of `b` and its value (wrapped beyond
/// 19 digits), a byte at a time from `v` and `n` on: the fastest way for the short numbers
/// (ports, payload types, clock rates) that most fields hold.
#[inline(always)]
fn short_digits_from(b: &[u8], mut n: usize, mut v: u64) -> (usize, u64) {
    while let Some(&x) = b.get(n) {
        let d = x.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
    }
    (n, v)
}

#[inline(always)]
fn short_digits(b: &[u8]) -> (usize, u64) {
    short_digits_from(b, 0, 0)
}

/// [`short_digits`] a word at a time while eight bytes are left ([`word_digits`]): fewer
/// instructions from about six digits on (priorities and SSRCs have ten); the last bytes of a
/// line go one by one.
#[inline(always)]
fn long_digits(b: &[u8]) -> (usize, u64) {
    let mut v: u64 = 0;
    let mut n = 0;
    while let Some(w) = b.get(n..n + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let (k, value) = word_digits(u64::from_le_bytes(w));
        // `k` is at most 8.
        v = v.wrapping_mul(POW10[k]).wrapping_add(value);
        n += k;
        if k < 8 {
            return (n, v);
        }
    }
    short_digits_from(b, n, v)
}

/// `10^k` for `k` in `0..=8`.
const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Eight bytes (the first in the low byte) at once: how many leading ones are ASCII digits
/// (0 to 8) and the value of those digits.
#[inline(always)]
fn word_digits(w: u64) -> (usize, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // XOR maps the digits, and only them, to the byte values 0 to 9.
    let t = w ^ (ONES * 0x30);
    // The high bit of each byte that is 10 or more: adding 0x76 sets it for 10..=0x89, `| t`
    // for 0x80 and above. A carry out of such a byte can only disturb the bytes after it, so
    // the lowest flagged byte is exactly the first non-digit.
    let non_digit = (t.wrapping_add(ONES * 0x76) | t) & (ONES * 0x80);
    let k = (non_digit.trailing_zeros() / 8) as usize;
    if k == 0 {
        return (0, 0);
    }
    // Shift the k digits to the top: the low bytes become leading zeros. Then combine pairs,
    // quads and the two halves (each digit is the next lower byte, so it is the less
    // significant one).
    let t = t << (64 - 8 * k);
    let t = (t.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let t = (t.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    let t = t.wrapping_mul(10_000 * (1 << 32) + 1) >> 32;
    (k, t)
}

/// The value of a run of digits, `None` when it overflows a u64.
#[cold]
fn checked_value(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |v, b| {
        v.checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))
    })
}

/// `item *(SP item)` where items are runs of `class`, in one pass; a separator not followed by
/// an item is left unconsumed. "expected `what`" when there is no first item.
#[inline]
pub(crate) fn list<'a>(
    i: &mut &'a str,
    class: u8,
    what: &'static str,
) -> Result<&'a str, PErr<'a>> {
    let b = i.as_bytes();
    let mut n = run(b, class);
    if n == 0 {
        return Err(expected(i, what));
    }
    while b.get(n) == Some(&b' ') {
        let more = run(b.get(n + 1..).unwrap_or(&[]), class);
        if more == 0 {
            break;
        }
        n += 1 + more;
    }
    advance(i, n)
}

/// How the fields of `o=`, `m=`, `c=` and `t=` are separated: exactly one SP (the grammar), or
/// in lenient mode any run of SP and HTAB, each run longer than one SP recorded for a warning.
pub(crate) struct Ws<'a> {
    lenient: bool,
    /// Where each extra run of whitespace starts (its first byte beyond one SP).
    pub(crate) extra: Vec<&'a str>,
}

impl<'a> Ws<'a> {
    /// Exactly one SP between fields.
    pub(crate) const fn strict() -> Self {
        Self {
            lenient: false,
            extra: Vec::new(),
        }
    }

    /// Any run of SP and HTAB between fields.
    pub(crate) const fn lenient() -> Self {
        Self {
            lenient: true,
            extra: Vec::new(),
        }
    }

    /// A field separator; "expected space" otherwise.
    #[inline(always)]
    pub(crate) fn sep(&mut self, i: &mut &'a str) -> Result<(), PErr<'a>> {
        if self.lenient {
            self.sep_lenient(i)
        } else {
            sp(i)
        }
    }

    /// Whether a separator is next (then consumed).
    #[inline(always)]
    pub(crate) fn try_sep(&mut self, i: &mut &'a str) -> bool {
        if self.lenient {
            self.sep_lenient(i).is_ok()
        } else {
            eat(i, b' ')
        }
    }

    fn sep_lenient(&mut self, i: &mut &'a str) -> Result<(), PErr<'a>> {
        let b = i.as_bytes();
        let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
        if n == 0 {
            return Err(expected(i, "space"));
        }
        if n > 1 || b.first() == Some(&b'\t') {
            let skip = usize::from(b.first() == Some(&b' '));
            self.extra.push(i.get(skip..).unwrap_or(""));
        }
        advance(i, n).map(|_| ())
    }

    /// `item *(sep item)` over `class`, separators as [`Ws::sep`]; a trailing separator is left
    /// unconsumed.
    pub(crate) fn list(
        &mut self,
        i: &mut &'a str,
        class: u8,
        what: &'static str,
    ) -> Result<&'a str, PErr<'a>> {
        if !self.lenient {
            return list(i, class, what);
        }
        let start = *i;
        take(i, class, what)?;
        loop {
            let before = *i;
            let mark = self.extra.len();
            if !self.try_sep(i) || run(i.as_bytes(), class) == 0 {
                // No item after the separator: leave it for the caller.
                self.extra.truncate(mark);
                *i = before;
                break;
            }
            take(i, class, what)?;
        }
        let used = start.len() - i.len();
        start.get(..used).ok_or_else(|| expected(start, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{Just, any};

    #[test]
    fn parse_lists_leave_a_trailing_separator() {
        let mut i = "0 1 2";
        assert_eq!(list(&mut i, TOKEN, "x").ok(), Some("0 1 2"));
        assert_eq!(i, "");
        let mut i = "0 1 ";
        assert_eq!(list(&mut i, TOKEN, "x").ok(), Some("0 1"));
        assert_eq!(i, " ");
        assert!(list(&mut " 0", TOKEN, "x").is_err());
    }

    #[test]
    fn parse_numbers_refuse_overflow() {
        let mut i = "65535 x";
        assert_eq!(num::<u16>(&mut i, "n").ok(), Some(65535));
        assert_eq!(i, " x");
        let e = num::<u16>(&mut "65536", "n").expect_err("u16 overflow");
        assert_eq!((e.at, e.kind), ("65536", ErrorKind::NumberOutOfRange));
        let e = num::<u64>(&mut "99999999999999999999999", "n").expect_err("u64 overflow");
        assert_eq!(e.kind, ErrorKind::NumberOutOfRange);
        // Leading zeros beyond 19 digits are still a small number.
        assert_eq!(num::<u8>(&mut "000000000000000000007", "n").ok(), Some(7));
        assert_eq!(
            num::<u64>(&mut "18446744073709551615", "n").ok(),
            Some(u64::MAX)
        );
        let e = num::<u8>(&mut "x", "a digit").expect_err("no digits");
        assert_eq!(
            e.kind,
            ErrorKind::Syntax {
                expected: "a digit"
            }
        );
    }

    #[test]
    fn parse_long_numbers_word_at_a_time() {
        // Every length on both sides of a word, followed by a non-digit or by the end.
        for digits in [
            "7",
            "1234567",
            "12345678",
            "123456789",
            "2113937151",
            "0000000000042",
        ] {
            for tail in ["", " typ", "/", ":9", "\u{e9}"] {
                let text = format!("{digits}{tail}");
                let (mut a, mut b) = (text.as_str(), text.as_str());
                let long = num_long::<u64>(&mut a, "n").ok();
                assert_eq!(long, num::<u64>(&mut b, "n").ok(), "{text}");
                assert_eq!((long, a), (digits.parse().ok(), tail), "{text}");
            }
        }
        let e = num_long::<u32>(&mut "4294967296 x", "n").expect_err("u32 overflow");
        assert_eq!(e.kind, ErrorKind::NumberOutOfRange);
        assert!(num_long::<u32>(&mut "x1234567890", "n").is_err());
        assert_eq!(
            take_digits_long(&mut "4611731400430051336 2", "id").ok(),
            Some("4611731400430051336")
        );
    }

    #[test]
    fn word_runs_agree_with_the_table() {
        // Every byte value at every place of a word, after a run of members of the class.
        let classes = [NON_WS, CONN, ATTR_NAME, ICE, ADDR];
        for class in classes {
            let member = (0..=255u8).find(|&b| is(b, class)).expect("a member");
            for x in 0..=255u8 {
                for at in 0..17 {
                    let mut b = [member; 20];
                    b[at] = x;
                    assert_eq!(run_words(&b, class), run(&b, class), "{class} {x:#x} {at}");
                }
            }
        }
    }

    /// [`items_to_end`] by its definition, a byte at a time.
    fn items_by_bytes(b: &[u8]) -> Option<usize> {
        let mut items = 0;
        for item in b.split(|&x| x == b' ') {
            if item.is_empty() || !item.iter().all(|&x| is(x, NON_WS)) {
                return None;
            }
            items += 1;
        }
        Some(items)
    }

    #[test]
    fn items_to_end_agrees_with_the_bytes() {
        // Every byte value at every place of the first three words (and their tails), and
        // space patterns that straddle word boundaries.
        for len in [1, 7, 8, 9, 15, 16, 17, 23] {
            for at in 0..len {
                for x in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    b[at] = x;
                    assert_eq!(
                        items_to_end(&b),
                        items_by_bytes(&b),
                        "{x:#x} at {at} of {len}"
                    );
                }
            }
        }
        for spaces in 0..1u32 << 12 {
            let b: Vec<u8> = (0..12)
                .map(|k| if spaces >> k & 1 == 1 { b' ' } else { b'z' })
                .collect();
            assert_eq!(items_to_end(&b), items_by_bytes(&b), "{b:?}");
        }
        // Long lists: one of 1001 items; one whose spaces all fall at the same place of a word
        // (counted a byte lane at a time, that lane would overflow); one of hundreds of
        // one-letter items (the lanes' sum would pass 255).
        let long = "ab ".repeat(1000) + "c";
        assert_eq!(items_to_end(long.as_bytes()), Some(1001));
        let lane = ["aaaaaaa"; 300].join(" ");
        assert_eq!(items_to_end(lane.as_bytes()), Some(300));
        let many = ["a"; 343].join(" ");
        assert_eq!(items_to_end(many.as_bytes()), Some(343));
        assert_eq!(items_to_end(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn items_to_end_agrees_on_any_bytes(
            b in proptest::collection::vec(
                proptest::prop_oneof![Just(b' '), Just(b'a'), Just(0x80u8), Just(b'\t'), any::<u8>()],
                0..80,
            )
        ) {
            proptest::prop_assert_eq!(items_to_end(&b), items_by_bytes(&b));
        }

        #[test]
        fn items_to_end_counts_long_lists(lens in proptest::collection::vec(1usize..9, 1..800)) {
            let items: Vec<String> = lens.iter().map(|&n| "x".repeat(n)).collect();
            let b = items.join(" ");
            proptest::prop_assert_eq!(items_to_end(b.as_bytes()), Some(items.len()));
        }
    }

    #[test]
    fn classes_stop_on_ascii() {
        // Non-ASCII bytes are non-whitespace but never token chars: splits stay on char
        // boundaries either way.
        let mut i = "café x";
        assert_eq!(take(&mut i, NON_WS, "x").ok(), Some("café"));
        let mut i = "caf\u{e9}";
        assert_eq!(take(&mut i, TOKEN, "x").ok(), Some("caf"));
        assert_eq!(i, "\u{e9}");
    }

    #[test]
    fn lenient_separators_are_recorded() {
        let mut ws = Ws::lenient();
        let mut i = "a  b\tc d";
        assert_eq!(ws.list(&mut i, TOKEN, "x").ok(), Some("a  b\tc d"));
        assert_eq!(ws.extra, [" b\tc d", "\tc d"]);
        let mut ws = Ws::lenient();
        let mut i = "a b  ";
        assert_eq!(ws.list(&mut i, TOKEN, "x").ok(), Some("a b"));
        assert_eq!((i, ws.extra.len()), ("  ", 0));
        let mut strict = Ws::strict();
        assert!(strict.sep(&mut "  x").is_ok());
        assert!(strict.sep(&mut "\tx").is_err());
    }
}
