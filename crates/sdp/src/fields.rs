//! The grammars of the lines that the description keeps as text: `u=`, `e=`, `p=` and `k=`
//! (RFC 8866 §9). Their values are stored as written either way; these parsers only say whether
//! a value matches its grammar and, when it does not, where it stops matching (a [`PErr`]), for
//! strict mode's error and lenient mode's warning.
//!
//! ```text
//! uri-field            = %s"u" "=" uri CRLF                 ; uri = URI-reference (RFC 3986)
//! email-field          = %s"e" "=" email-address CRLF
//! phone-field          = %s"p" "=" phone-number CRLF
//! key-field            = %s"k" "=" key-type CRLF
//! email-address        = address-and-comment / dispname-and-address / addr-spec
//! address-and-comment  = addr-spec 1*SP "(" 1*email-safe ")"
//! dispname-and-address = 1*email-safe 1*SP "<" addr-spec ">"
//! phone-number         = phone *SP "(" 1*email-safe ")" / 1*email-safe "<" phone ">" / phone
//! phone                = ["+"] DIGIT 1*(SP / "-" / DIGIT)
//! key-type             = %s"prompt" / %s"clear:" text / %s"base64:" base64 / %s"uri:" uri
//! base64               = *base64-unit [base64-pad]
//! ```
//!
//! Two rules come from other RFCs, and only a practical part of each is checked:
//!
//! - `addr-spec` (RFC 5322 §3.4.1) is `local-part "@" domain`, the local part a `dot-atom-text`
//!   (atoms of `atext`, no leading, trailing or doubled dot) or a `quoted-string`, the domain a
//!   `dot-atom-text` or a `domain-literal` (`[...]`). White space may appear inside the quotes
//!   and the brackets (`FWS`, which within one line is white space). Refused although RFC 5322
//!   has them: comments and white space around the parts (`CFWS`), the obsolete forms
//!   (`obs-local-part`, `obs-domain`, control characters in quotes and brackets), and UTF-8
//!   beyond ASCII (RFC 6532). Whether the domain is a host name is not looked at.
//! - `URI-reference` (RFC 3986 §4.1) is checked for its characters (`unreserved`, `reserved`,
//!   and `%` followed by two hex digits) and its scheme: when a `:` comes before any `/`, `?`
//!   or `#`, what precedes it must be a scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`),
//!   since a relative reference cannot have a colon in its first segment. Not checked: the
//!   structure of the authority (user info, `[...]` IP literals, the port), where `[`, `]`,
//!   `?` and `#` may appear, and anything scheme-specific. The empty string is a valid (empty)
//!   relative reference.
//!
//! Like the attribute grammars, each rule is a function over a cursor (`&mut &str`, the rest of
//! the value). Nothing here can panic on input: every split is checked, and the only indexing
//! is of a 256-entry class table by a byte. These lines are rare (browsers send none), so the
//! code is written for clarity, not speed; the driver calls it only for them.

use crate::grammar::{PErr, line};
use crate::scan::{advance, eat, end, expected};

type R<'a, T> = Result<T, PErr<'a>>;

/// `atext` (RFC 5322 §3.2.3).
const ATEXT: u8 = 1;
/// `qtext` (RFC 5322 §3.2.4) and white space (`FWS` within a line).
const QTEXT_WS: u8 = 2;
/// `dtext` (RFC 5322 §3.4.1) and white space.
const DTEXT_WS: u8 = 4;
/// `email-safe` (RFC 8866 §9): any byte but NUL, CR, LF, `(`, `)`, `<` and `>`.
const EMAIL_SAFE: u8 = 8;
/// `unreserved / reserved` (RFC 3986 §2.2, §2.3).
const URI: u8 = 16;
/// `base64-char` (RFC 8866 §9).
const BASE64: u8 = 32;
/// The characters of a URI scheme after its first letter (RFC 3986 §3.1).
const SCHEME: u8 = 64;
/// `SP / "-" / DIGIT`, the characters of a phone number after its first digit.
const PHONE: u8 = 128;

const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DIGIT: &[u8] = b"0123456789";

const fn in_list(b: u8, list: &[u8]) -> bool {
    let mut k = 0;
    while k < list.len() {
        if list[k] == b {
            return true;
        }
        k += 1;
    }
    false
}

// Only `EMAIL_SAFE` holds bytes from 0x80 on, and it holds all of them: a run of any class ends
// on an ASCII byte or at the end, so on a char boundary.
const fn class_of(b: u8) -> u8 {
    let alnum = in_list(b, ALPHA) || in_list(b, DIGIT);
    let ws = b == b' ' || b == b'\t';
    let mut f = 0;
    if alnum || in_list(b, b"!#$%&'*+-/=?^_`{|}~") {
        f |= ATEXT;
    }
    // qtext = %d33 / %d35-91 / %d93-126.
    if ws || b == 33 || (b >= 35 && b <= 91) || (b >= 93 && b <= 126) {
        f |= QTEXT_WS;
    }
    // dtext = %d33-90 / %d94-126.
    if ws || (b >= 33 && b <= 90) || (b >= 94 && b <= 126) {
        f |= DTEXT_WS;
    }
    // email-safe = %x01-09/%x0B-0C/%x0E-27/%x2A-3B/%x3D/%x3F-FF.
    if !in_list(b, b"\0\n\r()<>") {
        f |= EMAIL_SAFE;
    }
    // unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"; reserved = gen-delims / sub-delims.
    if alnum || in_list(b, b"-._~") || in_list(b, b":/?#[]@") || in_list(b, b"!$&'()*+,;=") {
        f |= URI;
    }
    if alnum || b == b'+' || b == b'/' {
        f |= BASE64;
    }
    if alnum || in_list(b, b"+-.") {
        f |= SCHEME;
    }
    if b == b' ' || b == b'-' || in_list(b, DIGIT) {
        f |= PHONE;
    }
    f
}

static CLASS: [u8; 256] = crate::scan::class_table!(class_of);

fn is(b: u8, class: u8) -> bool {
    // Indexing a 256-entry table with a `u8` cannot go out of bounds.
    CLASS[usize::from(b)] & class != 0
}

/// Length of the run of `class` bytes at the start of `b`.
fn run(b: &[u8], class: u8) -> usize {
    b.iter().position(|&x| !is(x, class)).unwrap_or(b.len())
}

/// The run of `class` bytes at the start of `i`, possibly empty.
fn take0<'a>(i: &mut &'a str, class: u8) -> R<'a, &'a str> {
    advance(i, run(i.as_bytes(), class))
}

/// One or more bytes of `class`; "expected `what`" otherwise.
fn take1<'a>(i: &mut &'a str, class: u8, what: &'static str) -> R<'a, &'a str> {
    let n = run(i.as_bytes(), class);
    if n == 0 {
        return Err(expected(i, what));
    }
    advance(i, n)
}

/// `s` from byte `n` on (a char boundary wherever it is used; all of `s` otherwise).
fn from(s: &str, n: usize) -> &str {
    s.get(n..).unwrap_or(s)
}

/// The error of the alternative that got further; `second` on a tie.
fn further<'a>(first: PErr<'a>, second: PErr<'a>) -> PErr<'a> {
    // Both point into the same value, so the shorter rest is the further position.
    if first.at.len() < second.at.len() {
        first
    } else {
        second
    }
}

// ---------------------------------------------------------------------------------------------
// u=

/// `URI-reference` (RFC 3986 §4.1): its characters and its scheme (see the module docs for
/// what is not checked).
pub(crate) fn uri_reference(value: &str) -> R<'_, ()> {
    let b = value.as_bytes();
    // RFC 3986 §4.2: a relative reference's first segment has no colon (`segment-nz-nc`), so a
    // colon before any "/", "?" or "#" ends a scheme.
    let delimiter = b
        .iter()
        .position(|&c| matches!(c, b':' | b'/' | b'?' | b'#'));
    if let Some(colon) = delimiter.filter(|&p| b.get(p) == Some(&b':')) {
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
        let n = if b.first().is_some_and(u8::is_ascii_alphabetic) {
            1 + run(b.get(1..).unwrap_or(&[]), SCHEME)
        } else {
            0
        };
        // An empty scheme (":x") is no scheme either.
        if n == 0 || n != colon {
            return Err(expected(
                from(value, n),
                "URI scheme (a letter, then letters, digits, '+', '-' or '.')",
            ));
        }
    }
    let mut i = value;
    loop {
        take0(&mut i, URI)?;
        if i.is_empty() {
            return Ok(());
        }
        // pct-encoded = "%" HEXDIG HEXDIG.
        if !eat(&mut i, b'%') {
            return Err(expected(
                i,
                "URI characters (RFC 3986: unreserved, reserved or %-encoded)",
            ));
        }
        for _ in 0..2 {
            if !i.as_bytes().first().is_some_and(u8::is_ascii_hexdigit) {
                return Err(expected(i, "two hex digits after '%'"));
            }
            advance(&mut i, 1)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// e=

/// `email-address` (RFC 8866 §9).
pub(crate) fn email_address(value: &str) -> R<'_, ()> {
    // `address-and-comment` and `addr-spec` start alike, and so may `dispname-and-address`
    // (its name is any email-safe text): the latter is tried when a "<" ends the first run of
    // email-safe text, and of two failures the one that got further is reported.
    match line(value, address_and_comment) {
        Err(plain) if named(value) => {
            line(value, dispname_and_address).map_err(|named| further(plain, named))
        }
        other => other,
    }
}

/// Whether `value` starts with `*email-safe "<"`: the form with a name before an address or a
/// phone number in angle brackets.
fn named(value: &str) -> bool {
    let b = value.as_bytes();
    b.get(run(b, EMAIL_SAFE)) == Some(&b'<')
}

/// `addr-spec [1*SP "(" 1*email-safe ")"]`: `addr-spec` alone or `address-and-comment`.
fn address_and_comment<'a>(i: &mut &'a str) -> R<'a, ()> {
    addr_spec(i)?;
    let spaces = *i;
    let n = i.bytes().take_while(|&b| b == b' ').count();
    if n == 0 {
        return Ok(());
    }
    advance(i, n)?;
    if i.is_empty() {
        // Trailing spaces: the address ends where they start.
        return Err(expected(spaces, "end of line"));
    }
    comment(i)
}

/// `dispname-and-address = 1*email-safe 1*SP "<" addr-spec ">"`.
fn dispname_and_address<'a>(i: &mut &'a str) -> R<'a, ()> {
    let start = *i;
    let name = take0(i, EMAIL_SAFE)?;
    // email-safe includes SP: the name is any run that has a byte before its final space.
    if name.is_empty() || name == " " {
        return Err(expected(start, "display name before '<'"));
    }
    if !name.ends_with(' ') {
        return Err(expected(i, "space before '<'"));
    }
    if !eat(i, b'<') {
        return Err(expected(i, "'<'"));
    }
    addr_spec(i)?;
    if !eat(i, b'>') {
        return Err(expected(i, "'>'"));
    }
    Ok(())
}

/// `"(" 1*email-safe ")"`.
fn comment<'a>(i: &mut &'a str) -> R<'a, ()> {
    if !eat(i, b'(') {
        return Err(expected(i, "'('"));
    }
    take1(i, EMAIL_SAFE, "comment text")?;
    if !eat(i, b')') {
        return Err(expected(i, "')'"));
    }
    Ok(())
}

/// `addr-spec = local-part "@" domain` (RFC 5322 §3.4.1), without `CFWS` and the obsolete
/// forms: `local-part = dot-atom-text / quoted-string`, `domain = dot-atom-text /
/// domain-literal`.
fn addr_spec<'a>(i: &mut &'a str) -> R<'a, ()> {
    if i.starts_with('"') {
        quoted_string(i)?;
    } else {
        dot_atom(i, "email address")?;
    }
    if !eat(i, b'@') {
        return Err(expected(i, "'@'"));
    }
    if i.starts_with('[') {
        domain_literal(i)
    } else {
        dot_atom(i, "domain after '@'")
    }
}

/// `dot-atom-text = 1*atext *("." 1*atext)`; "expected `what`" when there is no first atom.
fn dot_atom<'a>(i: &mut &'a str, what: &'static str) -> R<'a, ()> {
    take1(i, ATEXT, what)?;
    while eat(i, b'.') {
        take1(i, ATEXT, "atom after '.'")?;
    }
    Ok(())
}

/// `quoted-string = DQUOTE *([FWS] qcontent) [FWS] DQUOTE`, `qcontent = qtext / quoted-pair`,
/// `quoted-pair = "\" (VCHAR / WSP)`.
fn quoted_string<'a>(i: &mut &'a str) -> R<'a, ()> {
    if !eat(i, b'"') {
        return Err(expected(i, "'\"'"));
    }
    loop {
        take0(i, QTEXT_WS)?;
        if eat(i, b'"') {
            return Ok(());
        }
        if !eat(i, b'\\') {
            return Err(expected(i, "closing '\"'"));
        }
        match i.as_bytes().first() {
            Some(&c) if (0x21..=0x7e).contains(&c) || c == b' ' || c == b'\t' => {
                advance(i, 1)?;
            }
            _ => return Err(expected(i, "printable character after '\\'")),
        }
    }
}

/// `domain-literal = "[" *([FWS] dtext) [FWS] "]"`.
fn domain_literal<'a>(i: &mut &'a str) -> R<'a, ()> {
    if !eat(i, b'[') {
        return Err(expected(i, "'['"));
    }
    take0(i, DTEXT_WS)?;
    if !eat(i, b']') {
        return Err(expected(i, "closing ']'"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// p=

/// `phone-number` (RFC 8866 §9).
pub(crate) fn phone_number(value: &str) -> R<'_, ()> {
    // As for email addresses: the named form when a "<" ends the first run of email-safe text
    // (which digits, "+", "-" and spaces are too).
    match line(value, phone_and_comment) {
        Err(plain) if named(value) => {
            line(value, named_phone).map_err(|named| further(plain, named))
        }
        other => other,
    }
}

/// `phone = ["+"] DIGIT 1*(SP / "-" / DIGIT)`.
fn phone<'a>(i: &mut &'a str) -> R<'a, ()> {
    let plus = eat(i, b'+');
    if !i.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Err(expected(
            i,
            if plus {
                "digit after '+'"
            } else {
                "phone number"
            },
        ));
    }
    advance(i, 1)?;
    take1(i, PHONE, "digits, spaces or '-'")?;
    Ok(())
}

/// `phone *SP "(" 1*email-safe ")" / phone`: [`phone`] takes the spaces too.
fn phone_and_comment<'a>(i: &mut &'a str) -> R<'a, ()> {
    phone(i)?;
    if i.starts_with('(') {
        comment(i)?;
    }
    Ok(())
}

/// `1*email-safe "<" phone ">"`.
fn named_phone<'a>(i: &mut &'a str) -> R<'a, ()> {
    take1(i, EMAIL_SAFE, "name before '<'")?;
    if !eat(i, b'<') {
        return Err(expected(i, "'<'"));
    }
    phone(i)?;
    if !eat(i, b'>') {
        return Err(expected(i, "'>'"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// k=

/// `key-type = %s"prompt" / %s"clear:" text / %s"base64:" base64 / %s"uri:" uri` (RFC 8866
/// §9; the method names are case-sensitive).
pub(crate) fn key_type(value: &str) -> R<'_, ()> {
    if let Some(rest) = value.strip_prefix("prompt") {
        end(rest)
    } else if let Some(text) = value.strip_prefix("clear:") {
        // text = byte-string = 1*(%x01-09/%x0B-0C/%x0E-FF): the driver has refused NUL, CR and LF.
        if text.is_empty() {
            Err(expected(text, "key text after 'clear:'"))
        } else {
            Ok(())
        }
    } else if let Some(b) = value.strip_prefix("base64:") {
        line(b, base64)
    } else if let Some(uri) = value.strip_prefix("uri:") {
        uri_reference(uri)
    } else {
        Err(expected(
            value,
            "key method (prompt, clear:, base64: or uri:)",
        ))
    }
}

/// `base64 = *base64-unit [base64-pad]`, `base64-unit = 4base64-char`, `base64-pad =
/// 2base64-char "==" / 3base64-char "="`: whole groups of four, the last one maybe two or
/// three characters and padding. Empty is valid.
fn base64<'a>(i: &mut &'a str) -> R<'a, ()> {
    let n = take0(i, BASE64)?.len();
    if i.as_bytes().first().is_some_and(|&b| b != b'=') {
        return Err(expected(i, "base64 character"));
    }
    let pad = match n % 4 {
        0 => 0,
        1 => return Err(expected(i, "base64 character")),
        2 => 2,
        _ => 1,
    };
    for _ in 0..pad {
        if !eat(i, b'=') {
            return Err(expected(i, "'=' padding"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    type Check = fn(&str) -> R<'_, ()>;

    /// The error as (byte offset in `value`, what was expected).
    fn fails(p: Check, value: &str) -> Option<(usize, &'static str)> {
        match p(value) {
            Ok(()) => None,
            Err(e) => {
                let ErrorKind::Syntax { expected } = e.kind else {
                    panic!("{value:?}: {:?}", e.kind);
                };
                Some((crate::parse::offset_in(value, e.at), expected))
            }
        }
    }

    #[track_caller]
    fn accepts(p: Check, values: &[&str]) {
        for v in values {
            assert_eq!(fails(p, v), None, "{v:?}");
        }
    }

    #[track_caller]
    fn refuses(p: Check, cases: &[(&str, usize, &str)]) {
        for &(v, at, what) in cases {
            assert_eq!(fails(p, v), Some((at, what)), "{v:?}");
        }
    }

    #[test]
    fn parse_email_addresses() {
        accepts(
            email_address,
            &[
                "j.doe@example.com",
                "j.doe@example.com (Jane Doe)",
                "j.doe@example.com   (Jane Doe, \"x@y\" é)",
                "Jane Doe <j.doe@example.com>",
                "Jane  Doe  <j.doe@example.com>",
                "José Müller <jm@example.com>",
                "a\tb <x@y>",
                "x@y <x@y>",
                "  <x@y>",
                "!#$%&'*+-/=?^_`{|}~@example.com",
                "\"Jane Doe\"@example.com",
                "\"a\\\"b\\\\c\"@x",
                "\"\"@x",
                "\"<(x)>\"@x (c)",
                "jane@[192.0.2.1]",
                "jane@[IPv6:2001:db8::1]",
                "jane@[ a b ]",
                "Jane <\"j d\"@[192.0.2.1]>",
            ],
        );
        refuses(
            email_address,
            &[
                ("", 0, "email address"),
                ("x", 1, "'@'"),
                ("Jane Doe", 4, "'@'"),
                ("@example.com", 0, "email address"),
                (".j@x", 0, "email address"),
                ("j.@x", 2, "atom after '.'"),
                ("j..d@x", 2, "atom after '.'"),
                ("j@", 2, "domain after '@'"),
                ("j@x.", 4, "atom after '.'"),
                ("j@x..y", 4, "atom after '.'"),
                ("j@x,y", 3, "end of line"),
                ("j@x ", 3, "end of line"),
                ("j@x  ", 3, "end of line"),
                ("j@x (", 5, "comment text"),
                ("j@x ()", 5, "comment text"),
                ("j@x (Jane", 9, "')'"),
                ("j@x (a) b", 7, "end of line"),
                ("j@x (a (b)", 7, "')'"),
                ("j@x Jane", 4, "'('"),
                ("j@x(Jane)", 3, "end of line"),
                ("jé@x", 1, "'@'"),
                ("j@exämple", 4, "end of line"),
                ("\"j@x", 4, "closing '\"'"),
                ("\"j\\", 3, "printable character after '\\'"),
                ("\"é\"@x", 1, "closing '\"'"),
                ("j@[1.2", 6, "closing ']'"),
                ("j@[a[b]", 4, "closing ']'"),
                ("<j@x>", 0, "display name before '<'"),
                (" <j@x>", 0, "display name before '<'"),
                ("Jane<j@x>", 4, "space before '<'"),
                ("Jane <j@x", 9, "'>'"),
                ("Jane <j@x> ", 10, "end of line"),
                ("Jane <>", 6, "email address"),
                ("Jane <j>", 7, "'@'"),
                ("Jane (x) <j@x>", 4, "'@'"),
            ],
        );
    }

    #[test]
    fn parse_phone_numbers() {
        accepts(
            phone_number,
            &[
                "+1 617 555-6011",
                "+44-171-380-7777 (Mark Handley)",
                "+44-171-380-7777(Mark Handley)",
                "Mark <+44 171 380 7777>",
                "Mark<+44 171 380 7777>",
                "+1 <+1 555>",
                "12",
                "1-",
                "+1 617 555-6011 ",
                "+1 2 (a, b @ c)",
            ],
        );
        refuses(
            phone_number,
            &[
                ("", 0, "phone number"),
                ("x", 0, "phone number"),
                ("1", 1, "digits, spaces or '-'"),
                ("+", 1, "digit after '+'"),
                ("+ 1", 1, "digit after '+'"),
                ("++1 2", 1, "digit after '+'"),
                ("-1 2", 0, "phone number"),
                ("+1 617 x", 7, "end of line"),
                ("+1.617", 2, "digits, spaces or '-'"),
                ("+1 2 (", 6, "comment text"),
                ("+1 2 (x", 7, "')'"),
                ("+1 2 (a (b)", 8, "')'"),
                ("<+1 2>", 0, "name before '<'"),
                ("Mark <+1 2", 10, "'>'"),
                ("Mark <x>", 6, "phone number"),
                ("Mark <+1 2> ", 11, "end of line"),
                ("Mark (M) <+1 2>", 0, "phone number"),
            ],
        );
    }

    #[test]
    fn parse_keys() {
        accepts(
            key_type,
            &[
                "prompt",
                "clear:x",
                "clear:any text at all: é",
                "base64:",
                "base64:aGVsbG8=",
                "base64:aGk=",
                "base64:aA==",
                "base64:aGVsbG8hIQ==",
                "base64:+/+/",
                "uri:https://example.com/k",
                "uri:",
            ],
        );
        refuses(
            key_type,
            &[
                ("", 0, "key method (prompt, clear:, base64: or uri:)"),
                ("PROMPT", 0, "key method (prompt, clear:, base64: or uri:)"),
                ("clear", 0, "key method (prompt, clear:, base64: or uri:)"),
                ("prompt:x", 6, "end of line"),
                ("clear:", 6, "key text after 'clear:'"),
                ("base64:a", 8, "base64 character"),
                ("base64:abcde", 12, "base64 character"),
                ("base64:abcde=", 12, "base64 character"),
                ("base64:ab", 9, "'=' padding"),
                ("base64:ab=", 10, "'=' padding"),
                ("base64:abc", 10, "'=' padding"),
                ("base64:abc==", 11, "end of line"),
                ("base64:abcd=", 11, "end of line"),
                ("base64:ab-d", 9, "base64 character"),
                ("base64:abcd ", 11, "base64 character"),
                ("base64:ab==cd", 11, "end of line"),
                ("uri:a b", 5, URI_CHARS),
            ],
        );
    }

    const URI_CHARS: &str = "URI characters (RFC 3986: unreserved, reserved or %-encoded)";
    const SCHEME_CHARS: &str = "URI scheme (a letter, then letters, digits, '+', '-' or '.')";

    #[test]
    fn parse_uris() {
        accepts(
            uri_reference,
            &[
                "http://www.example.com/seminars/sdp.pdf",
                "https://user:pw@[2001:db8::1]:8080/a/b?c=d&e#f",
                "urn:ietf:params:rtp-hdrext:sdes:mid",
                "mailto:j.doe@example.com",
                "sip:+1-555@example.com;user=phone",
                "a+b-c.d:x",
                "",
                "relative/path",
                "/absolute/path?q",
                "//host/x",
                "?query",
                "#fragment",
                "./a:b",
                "a/b:c",
                "%41%7e",
                "x:%C3%A9",
                "!$&'()*+,;=-._~",
            ],
        );
        refuses(
            uri_reference,
            &[
                (":x", 0, SCHEME_CHARS),
                ("1http://x", 0, SCHEME_CHARS),
                ("ht_tp://x", 2, SCHEME_CHARS),
                ("a b:c", 1, SCHEME_CHARS),
                ("é:x", 0, SCHEME_CHARS),
                ("http://a b", 8, URI_CHARS),
                ("http://x/é", 9, URI_CHARS),
                ("http://x/<y>", 9, URI_CHARS),
                ("a\"b", 1, URI_CHARS),
                ("a\\b", 1, URI_CHARS),
                ("a{b}", 1, URI_CHARS),
                ("x ", 1, URI_CHARS),
                ("%", 1, "two hex digits after '%'"),
                ("%4", 2, "two hex digits after '%'"),
                ("%4g", 2, "two hex digits after '%'"),
                ("http://x/%zz", 10, "two hex digits after '%'"),
            ],
        );
    }

    /// For every ASCII byte that may appear in a line (the driver refuses NUL, CR and LF), and
    /// for a non-ASCII character, whether `template` with `{}` replaced by it is accepted as the
    /// RFC's character lists say, written out again here.
    #[track_caller]
    fn by_character(p: Check, template: &str, allowed: &dyn Fn(char) -> bool) {
        let chars = (1u8..=0x7f)
            .filter(|b| !matches!(b, b'\n' | b'\r'))
            .map(char::from)
            .chain(['é', '\u{80}', '€']);
        for c in chars {
            let v = template.replace("{}", &c.to_string());
            assert_eq!(p(&v).is_ok(), allowed(c), "{v:?}");
        }
    }

    const RFC_ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";

    fn alnum(c: char) -> bool {
        c.is_ascii_alphanumeric()
    }

    #[test]
    fn characters_of_email_addresses() {
        let atext = |c: char| alnum(c) || RFC_ATEXT.contains(c);
        // Inside atoms, a dot between two atoms too.
        by_character(email_address, "a{}b@x", &|c| atext(c) || c == '.');
        by_character(email_address, "a@x{}y", &|c| atext(c) || c == '.');
        // qtext = %d33 / %d35-91 / %d93-126, and white space.
        let qtext = |c: char| matches!(c, '!' | '#'..='[' | ']'..='~' | ' ' | '\t');
        by_character(email_address, "\"{}\"@x", &qtext);
        // quoted-pair = "\" (VCHAR / WSP).
        by_character(email_address, "\"\\{}\"@x", &|c| {
            matches!(c, '!'..='~' | ' ' | '\t')
        });
        // dtext = %d33-90 / %d94-126, and white space.
        by_character(
            email_address,
            "a@[{}]",
            &|c| matches!(c, '!'..='Z' | '^'..='~' | ' ' | '\t'),
        );
        // email-safe: anything but NUL, CR, LF, "(", ")", "<", ">".
        let email_safe = |c: char| !"()<>".contains(c);
        by_character(email_address, "a@x ({})", &email_safe);
        by_character(email_address, "N{}a <a@x>", &email_safe);
    }

    #[test]
    fn characters_of_phone_numbers() {
        by_character(phone_number, "+1 2{}", &|c| {
            c.is_ascii_digit() || c == ' ' || c == '-'
        });
        by_character(phone_number, "{}1 2", &|c| c.is_ascii_digit() || c == '+');
        by_character(phone_number, "+1 2 ({})", &|c| !"()<>".contains(c));
        by_character(phone_number, "N{} <+1 2>", &|c| !"()<>".contains(c));
    }

    #[test]
    fn characters_of_keys_and_uris() {
        let base64 = |c: char| alnum(c) || c == '+' || c == '/';
        by_character(key_type, "base64:aGV{}", &|c| base64(c) || c == '=');
        by_character(key_type, "base64:{}Gk=", &base64);
        // Any byte of text: the driver has already refused NUL, CR and LF.
        by_character(key_type, "clear:{}", &|_| true);
        // unreserved / reserved (RFC 3986 §2.2, §2.3); "%" only before two hex digits.
        let uri = |c: char| alnum(c) || "-._~:/?#[]@!$&'()*+,;=".contains(c);
        by_character(uri_reference, "http://a/{}", &uri);
        by_character(key_type, "uri:http://a/{}", &uri);
        // A scheme, or a first segment that is not one because "/", "?" or "#" comes first.
        by_character(uri_reference, "a{}:b", &|c| {
            alnum(c) || "+-./?#:".contains(c)
        });
        by_character(uri_reference, "{}a:b", &|c| {
            c.is_ascii_alphabetic() || "/?#".contains(c)
        });
    }

    proptest::proptest! {
        #[test]
        fn errors_point_into_the_value(v in "\\PC{0,40}", p in 0usize..4) {
            let checks: [Check; 4] = [uri_reference, email_address, phone_number, key_type];
            if let Some(check) = checks.get(p)
                && let Err(e) = check(&v)
            {
                // A suffix of the value itself, not a copy.
                let end = e.at.as_ptr() as usize + e.at.len();
                proptest::prop_assert_eq!(end, v.as_ptr() as usize + v.len());
                proptest::prop_assert!(v.ends_with(e.at));
            }
        }
    }
}
