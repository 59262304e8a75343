//! The NAT spec string: presets and RFC 4787 terms, chained with `+` (innermost first).
//!
//! ```text
//! spec   = layer *( "+" layer )          ; innermost (home) NAT first, outermost (carrier) last
//! layer  = item *( "," item )
//! item   = preset / key "=" value        ; a preset may only be the first item of a layer
//! preset = open / firewall / full-cone / restricted / port-restricted / symmetric / masquerade
//! key    = mapping    (eim | adm | apdm)
//!        / filtering  (eif | adf | apdf)
//!        / ports      (preserve | sequential | random)
//!        / range      (LO-HI, e.g. 1024-65535)
//!        / parity     (on | off)
//!        / pool       (paired | arbitrary)
//!        / ips        (1..=16 public addresses)
//!        / hairpin    (on | off | internal)   ; internal: hairpin without translating the source
//!        / timeout    (30s | 500ms | 2m | 1h)
//!        / refresh    (outbound | both)
//!        / ipv6       (firewall | translate | open)
//!        / translate  (on | off)
//!        / max        (cap on live mappings)
//! ```
//! A layer without a preset starts from the port-restricted cone ([`NatConfig::default`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::config::{Filtering, Ipv6Mode, Mapping, NatConfig, Pooling, PortAssignment};

/// The most layers a chain may have.
pub const MAX_LAYERS: usize = 8;
/// The longest spec string accepted, in bytes.
pub const MAX_SPEC_LEN: usize = 1024;

/// A parsed NAT spec: one [`NatConfig`] per box, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatSpec {
    /// The boxes, innermost (nearest the host) first, outermost (nearest the public network) last.
    pub layers: Vec<NatConfig>,
}

impl NatSpec {
    /// A chain of one box.
    pub fn single(config: NatConfig) -> Self {
        Self {
            layers: vec![config],
        }
    }
}

/// A spec key, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Key {
    /// `mapping=`
    Mapping,
    /// `filtering=`
    Filtering,
    /// `ports=`
    Ports,
    /// `range=`
    Range,
    /// `parity=`
    Parity,
    /// `pool=`
    Pool,
    /// `ips=`
    Ips,
    /// `hairpin=`
    Hairpin,
    /// `timeout=`
    Timeout,
    /// `refresh=`
    Refresh,
    /// `ipv6=`
    Ipv6,
    /// `translate=`
    Translate,
    /// `max=`
    Max,
}

impl Key {
    const ALL: [Self; 13] = [
        Self::Mapping,
        Self::Filtering,
        Self::Ports,
        Self::Range,
        Self::Parity,
        Self::Pool,
        Self::Ips,
        Self::Hairpin,
        Self::Timeout,
        Self::Refresh,
        Self::Ipv6,
        Self::Translate,
        Self::Max,
    ];

    /// The key as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mapping => "mapping",
            Self::Filtering => "filtering",
            Self::Ports => "ports",
            Self::Range => "range",
            Self::Parity => "parity",
            Self::Pool => "pool",
            Self::Ips => "ips",
            Self::Hairpin => "hairpin",
            Self::Timeout => "timeout",
            Self::Refresh => "refresh",
            Self::Ipv6 => "ipv6",
            Self::Translate => "translate",
            Self::Max => "max",
        }
    }

    /// What a valid value looks like, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Self::Mapping => "eim, adm or apdm",
            Self::Filtering => "eif, adf or apdf",
            Self::Ports => "preserve, sequential or random",
            Self::Range => "LO-HI with 1 <= LO <= HI <= 65535",
            Self::Parity | Self::Translate => "on or off",
            Self::Pool => "paired or arbitrary",
            Self::Ips => "a number from 1 to 16",
            Self::Hairpin => "on, off or internal",
            Self::Timeout => "a duration such as 30s, 500ms, 2m or 1h (at least 1ms, at most 24h)",
            Self::Refresh => "outbound or both",
            Self::Ipv6 => "firewall, translate or open",
            Self::Max => "a number from 1 to 1000000",
        }
    }
}

/// What is wrong with a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecErrorKind {
    /// The spec, a layer or an item is empty.
    Empty,
    /// The spec is longer than [`MAX_SPEC_LEN`].
    TooLong,
    /// More than [`MAX_LAYERS`] layers.
    TooManyLayers,
    /// A bare word that is not a preset.
    UnknownPreset,
    /// A preset after the first item of a layer.
    PresetNotFirst,
    /// `key=value` with an unknown key.
    UnknownKey,
    /// A key given twice in one layer.
    DuplicateKey(Key),
    /// A value this key does not accept.
    InvalidValue(Key),
}

/// A spec parse error: the byte offset in the spec where the problem starts, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecError {
    /// Byte offset into the spec string.
    pub at: usize,
    /// The reason.
    pub kind: SpecErrorKind,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid NAT spec at byte {}: ", self.at)?;
        match self.kind {
            SpecErrorKind::Empty => f.write_str("empty layer or item"),
            SpecErrorKind::TooLong => write!(f, "spec longer than {MAX_SPEC_LEN} bytes"),
            SpecErrorKind::TooManyLayers => write!(f, "more than {MAX_LAYERS} chained NATs"),
            SpecErrorKind::UnknownPreset => f.write_str(
                "unknown preset (expected open, firewall, full-cone, restricted, port-restricted, symmetric or masquerade)",
            ),
            SpecErrorKind::PresetNotFirst => f.write_str("a preset must be the first item of its layer"),
            SpecErrorKind::UnknownKey => f.write_str(
                "unknown key (expected mapping, filtering, ports, range, parity, pool, ips, hairpin, timeout, refresh, ipv6, translate or max)",
            ),
            SpecErrorKind::DuplicateKey(key) => write!(f, "`{}` given twice", key.as_str()),
            SpecErrorKind::InvalidValue(key) => {
                write!(f, "invalid value for `{}`: expected {}", key.as_str(), key.expected())
            }
        }
    }
}

impl std::error::Error for SpecError {}

/// Splits `s` (which starts at byte `base` of the spec) on `sep`, yielding each part with its offset.
fn split_at_offsets(s: &str, base: usize, sep: char) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    s.split(sep).map(move |part| {
        let at = base + start;
        start += part.len() + sep.len_utf8();
        (at, part)
    })
}

fn on_off(v: &str) -> Option<bool> {
    match v {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h`; between 1 ms and 24 h.
fn duration(v: &str) -> Option<Duration> {
    let (digits, unit_ms) = if let Some(d) = v.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = v.strip_suffix('s') {
        (d, 1000)
    } else if let Some(d) = v.strip_suffix('m') {
        (d, 60_000)
    } else if let Some(d) = v.strip_suffix('h') {
        (d, 3_600_000)
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let ms = n.checked_mul(unit_ms)?;
    (1..=86_400_000)
        .contains(&ms)
        .then(|| Duration::from_millis(ms))
}

fn number(v: &str, max: u64) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|n| (1..=max).contains(n))
}

fn apply(config: &mut NatConfig, key: Key, v: &str) -> Option<()> {
    match key {
        Key::Mapping => {
            config.mapping = match v {
                "eim" | "endpoint-independent" => Mapping::EndpointIndependent,
                "adm" | "address-dependent" => Mapping::AddressDependent,
                "apdm" | "address-and-port-dependent" => Mapping::AddressAndPortDependent,
                _ => return None,
            }
        }
        Key::Filtering => {
            config.filtering = match v {
                "eif" | "endpoint-independent" => Filtering::EndpointIndependent,
                "adf" | "address-dependent" => Filtering::AddressDependent,
                "apdf" | "address-and-port-dependent" => Filtering::AddressAndPortDependent,
                _ => return None,
            }
        }
        Key::Ports => {
            config.ports = match v {
                "preserve" => PortAssignment::Preserve,
                "sequential" => PortAssignment::Sequential,
                "random" => PortAssignment::Random,
                _ => return None,
            }
        }
        Key::Range => {
            let (lo, hi) = v.split_once('-')?;
            let lo = u16::try_from(number(lo, 65535)?).ok()?;
            let hi = u16::try_from(number(hi, 65535)?).ok()?;
            if lo > hi {
                return None;
            }
            config.port_min = lo;
            config.port_max = hi;
        }
        Key::Parity => config.parity = on_off(v)?,
        Key::Pool => {
            config.pooling = match v {
                "paired" => Pooling::Paired,
                "arbitrary" => Pooling::Arbitrary,
                _ => return None,
            }
        }
        Key::Ips => config.public_addresses = u8::try_from(number(v, 16)?).ok()?,
        Key::Hairpin => {
            (config.hairpin, config.hairpin_translate_source) = match v {
                "internal" => (true, false),
                _ => (on_off(v)?, true),
            }
        }
        Key::Timeout => config.mapping_timeout = duration(v)?,
        Key::Refresh => {
            config.inbound_refresh = match v {
                "outbound" => false,
                "both" => true,
                _ => return None,
            }
        }
        Key::Ipv6 => {
            config.ipv6 = match v {
                "firewall" => Ipv6Mode::Firewall,
                "translate" => Ipv6Mode::Translate,
                "open" => Ipv6Mode::Open,
                _ => return None,
            }
        }
        Key::Translate => config.translate = on_off(v)?,
        Key::Max => config.max_mappings = usize::try_from(number(v, 1_000_000)?).ok()?,
    }
    Some(())
}

fn layer(text: &str, base: usize) -> Result<NatConfig, SpecError> {
    let mut config = NatConfig::default();
    let mut seen = [false; Key::ALL.len()];
    for (index, (at, item)) in split_at_offsets(text, base, ',').enumerate() {
        let item_trimmed = item.trim();
        let at = at + (item.len() - item.trim_start().len());
        if item_trimmed.is_empty() {
            return Err(SpecError {
                at,
                kind: SpecErrorKind::Empty,
            });
        }
        let Some((k, v)) = item_trimmed.split_once('=') else {
            let Some(preset) = NatConfig::preset(item_trimmed) else {
                return Err(SpecError {
                    at,
                    kind: SpecErrorKind::UnknownPreset,
                });
            };
            if index != 0 {
                return Err(SpecError {
                    at,
                    kind: SpecErrorKind::PresetNotFirst,
                });
            }
            config = preset;
            continue;
        };
        let Some((slot, key)) = Key::ALL
            .iter()
            .enumerate()
            .find(|(_, key)| key.as_str() == k.trim())
        else {
            return Err(SpecError {
                at,
                kind: SpecErrorKind::UnknownKey,
            });
        };
        if let Some(flag) = seen.get_mut(slot) {
            if *flag {
                return Err(SpecError {
                    at,
                    kind: SpecErrorKind::DuplicateKey(*key),
                });
            }
            *flag = true;
        }
        let value_at = at + k.len() + 1;
        apply(&mut config, *key, v.trim()).ok_or(SpecError {
            at: value_at + (v.len() - v.trim_start().len()),
            kind: SpecErrorKind::InvalidValue(*key),
        })?;
    }
    Ok(config)
}

impl FromStr for NatSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        if s.len() > MAX_SPEC_LEN {
            return Err(SpecError {
                at: MAX_SPEC_LEN,
                kind: SpecErrorKind::TooLong,
            });
        }
        let mut layers = Vec::new();
        for (at, text) in split_at_offsets(s, 0, '+') {
            if layers.len() == MAX_LAYERS {
                return Err(SpecError {
                    at,
                    kind: SpecErrorKind::TooManyLayers,
                });
            }
            layers.push(layer(text, at)?);
        }
        Ok(Self { layers })
    }
}

impl FromStr for NatConfig {
    type Err = SpecError;

    /// Parses a single-layer spec.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        if let Some(plus) = s.find('+') {
            return Err(SpecError {
                at: plus,
                kind: SpecErrorKind::TooManyLayers,
            });
        }
        if s.len() > MAX_SPEC_LEN {
            return Err(SpecError {
                at: MAX_SPEC_LEN,
                kind: SpecErrorKind::TooLong,
            });
        }
        layer(s, 0)
    }
}

fn write_duration(f: &mut fmt::Formatter<'_>, d: Duration) -> fmt::Result {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) {
        write!(f, "{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        write!(f, "{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        write!(f, "{}s", ms / 1000)
    } else {
        write!(f, "{ms}ms")
    }
}

impl fmt::Display for NatConfig {
    /// Writes the canonical form: the preset this config equals, or every key.
    /// `open` has no keys; a layer written with keys always parses back to the same config
    /// when its timeout is a whole number of milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for name in Self::PRESETS {
            if Self::preset(name).as_ref() == Some(self) {
                return f.write_str(name);
            }
        }
        if !self.stateful {
            // Keys cannot describe a stateless box that differs from `open`; write the closest.
            return f.write_str("open");
        }
        let mapping = match self.mapping {
            Mapping::EndpointIndependent => "eim",
            Mapping::AddressDependent => "adm",
            Mapping::AddressAndPortDependent => "apdm",
        };
        let filtering = match self.filtering {
            Filtering::EndpointIndependent => "eif",
            Filtering::AddressDependent => "adf",
            Filtering::AddressAndPortDependent => "apdf",
        };
        let ports = match self.ports {
            PortAssignment::Preserve => "preserve",
            PortAssignment::Sequential => "sequential",
            PortAssignment::Random => "random",
        };
        let on = |b: bool| if b { "on" } else { "off" };
        write!(
            f,
            "mapping={mapping},filtering={filtering},ports={ports},range={}-{},parity={},pool={},ips={},hairpin={},timeout=",
            self.port_min,
            self.port_max,
            on(self.parity),
            match self.pooling {
                Pooling::Paired => "paired",
                Pooling::Arbitrary => "arbitrary",
            },
            self.public_addresses,
            match (self.hairpin, self.hairpin_translate_source) {
                (true, false) => "internal",
                (h, _) => on(h),
            },
        )?;
        write_duration(f, self.mapping_timeout)?;
        write!(
            f,
            ",refresh={},ipv6={},translate={},max={}",
            if self.inbound_refresh {
                "both"
            } else {
                "outbound"
            },
            match self.ipv6 {
                Ipv6Mode::Firewall => "firewall",
                Ipv6Mode::Translate => "translate",
                Ipv6Mode::Open => "open",
            },
            on(self.translate),
            self.max_mappings,
        )
    }
}

impl fmt::Display for NatSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

/// Fuzz entry point: parsing arbitrary bytes never panics, and a parsed spec's canonical form
/// parses back to the same spec.
#[doc(hidden)]
pub fn fuzz_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = text.parse::<NatSpec>() {
        let canonical = spec.to_string();
        // Canonical forms of chains are long; only check those that fit.
        if canonical.len() <= MAX_SPEC_LEN {
            let again: NatSpec = canonical
                .parse()
                .unwrap_or_else(|e| panic!("{canonical}: {e}"));
            assert_eq!(again.to_string(), canonical);
            // Stateless layers ignore their other keys, so only stateful ones compare field by field.
            for (a, b) in again.layers.iter().zip(&spec.layers) {
                if b.stateful {
                    assert_eq!(a, b, "{canonical}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> SpecError {
        s.parse::<NatSpec>().unwrap_err()
    }

    #[test]
    fn parse_presets_and_chains() {
        let spec: NatSpec = "port-restricted+symmetric".parse().unwrap();
        assert_eq!(
            spec.layers,
            vec![NatConfig::port_restricted_cone(), NatConfig::symmetric()]
        );
        for name in NatConfig::PRESETS {
            let spec: NatSpec = name.parse().unwrap();
            assert_eq!(spec.to_string(), name);
        }
    }

    #[test]
    fn parse_terms() {
        let c: NatConfig = "mapping=adm,filtering=eif,ports=sequential,hairpin=off,timeout=30s"
            .parse()
            .unwrap();
        assert_eq!(c.mapping, Mapping::AddressDependent);
        assert_eq!(c.filtering, Filtering::EndpointIndependent);
        assert_eq!(c.ports, PortAssignment::Sequential);
        assert!(!c.hairpin);
        assert_eq!(c.mapping_timeout, Duration::from_secs(30));
        let c: NatConfig = "symmetric, ips=2 ,pool=arbitrary,range=2000-2999,parity=on,timeout=1500ms,refresh=both,ipv6=translate,max=10,hairpin=internal"
            .parse()
            .unwrap();
        assert_eq!((c.public_addresses, c.pooling), (2, Pooling::Arbitrary));
        assert_eq!((c.port_min, c.port_max, c.parity), (2000, 2999, true));
        assert_eq!(c.mapping_timeout, Duration::from_millis(1500));
        assert!(c.inbound_refresh && c.hairpin && !c.hairpin_translate_source);
        assert_eq!((c.ipv6, c.max_mappings), (Ipv6Mode::Translate, 10));
        assert_eq!(c.to_string().parse::<NatConfig>().unwrap(), c);
    }

    #[test]
    fn errors_have_positions_and_reasons() {
        assert_eq!(
            err(""),
            SpecError {
                at: 0,
                kind: SpecErrorKind::Empty
            }
        );
        assert_eq!(
            err("full-cone+"),
            SpecError {
                at: 10,
                kind: SpecErrorKind::Empty
            }
        );
        assert_eq!(
            err("cone"),
            SpecError {
                at: 0,
                kind: SpecErrorKind::UnknownPreset
            }
        );
        assert_eq!(
            err("symmetric+mapping=xyz"),
            SpecError {
                at: 18,
                kind: SpecErrorKind::InvalidValue(Key::Mapping)
            }
        );
        assert_eq!(
            err("mapping=eim,full-cone").kind,
            SpecErrorKind::PresetNotFirst
        );
        assert_eq!(
            err("colour=red"),
            SpecError {
                at: 0,
                kind: SpecErrorKind::UnknownKey
            }
        );
        assert_eq!(
            err("timeout=1s,timeout=2s").kind,
            SpecErrorKind::DuplicateKey(Key::Timeout)
        );
        assert_eq!(
            err("timeout=0s").kind,
            SpecErrorKind::InvalidValue(Key::Timeout)
        );
        assert_eq!(
            err("timeout=99999999999999999999h").kind,
            SpecErrorKind::InvalidValue(Key::Timeout)
        );
        assert_eq!(
            err("range=5-4").kind,
            SpecErrorKind::InvalidValue(Key::Range)
        );
        assert_eq!(
            err("open+open+open+open+open+open+open+open+open").kind,
            SpecErrorKind::TooManyLayers
        );
        assert_eq!(err(&"x".repeat(2000)).kind, SpecErrorKind::TooLong);
        let e = err("symmetric+mapping=xyz").to_string();
        assert_eq!(
            e,
            "invalid NAT spec at byte 18: invalid value for `mapping`: expected eim, adm or apdm"
        );
    }

    #[test]
    fn fuzz_spec_smoke() {
        for s in [
            "",
            "open",
            "a=b",
            "symmetric,timeout=1ms+full-cone",
            "\u{ff}",
            "+,=",
        ] {
            fuzz_spec(s.as_bytes());
        }
    }
}
