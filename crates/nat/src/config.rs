//! NAT behaviour configuration in RFC 4787 terms, and the classic presets.

use std::time::Duration;

/// Mapping behaviour (RFC 4787 §4.1): when does an internal endpoint get a new external address?
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mapping {
    /// "The NAT reuses the port mapping for subsequent packets sent from the same internal IP
    /// address and port (X:x) to any external IP address and port." (RFC 4787 §4.1)
    EndpointIndependent,
    /// The mapping is reused only for packets sent to the same external IP address, whatever its port.
    AddressDependent,
    /// The mapping is reused only for packets sent to the same external IP address and port.
    AddressAndPortDependent,
}

/// Filtering behaviour (RFC 4787 §5): which inbound packets may use an existing mapping?
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filtering {
    /// "The NAT filters out only packets not destined to the internal address and port X:x,
    /// regardless of the external IP address and port source (Z:z)." (RFC 4787 §5)
    EndpointIndependent,
    /// Admits packets from Y:any only if X:x has sent to Y (any port) through this mapping.
    AddressDependent,
    /// Admits packets from Y:y only if X:x has sent to exactly Y:y through this mapping.
    AddressAndPortDependent,
}

/// How an external port is chosen for a new mapping (RFC 4787 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortAssignment {
    /// Port preservation: use the internal port if it is free and inside the range; on conflict,
    /// fall back to a random free port.
    Preserve,
    /// The next free port after the previously assigned one (per public address), wrapping.
    Sequential,
    /// A uniformly random free port from the NAT's own seeded RNG.
    Random,
}

/// How the NAT chooses among several public addresses (RFC 4787 §4.1, REQ-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pooling {
    /// "Paired": every mapping of one internal IP address uses the same external IP address.
    Paired,
    /// "Arbitrary": each new mapping may use any external IP address.
    Arbitrary,
}

/// What the box does with IPv6 flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ipv6Mode {
    /// No translation, but the configured filtering applies (the usual IPv6 home router).
    Firewall,
    /// Translated like IPv4 (NAT66); needs an IPv6 public address.
    Translate,
    /// No translation and no filtering.
    Open,
}

/// The complete behaviour of one NAT box.
///
/// Start from a preset ([`NatConfig::full_cone`], [`NatConfig::symmetric`], ...) and adjust fields,
/// or parse a spec string with [`crate::NatSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatConfig {
    /// `false`: the box keeps no state and forwards everything unchanged (no NAT, no firewall).
    pub stateful: bool,
    /// `false`: a firewall; addresses are not rewritten, but mapping state and filtering apply.
    pub translate: bool,
    /// Mapping behaviour (RFC 4787 §4.1).
    pub mapping: Mapping,
    /// Filtering behaviour (RFC 4787 §5).
    pub filtering: Filtering,
    /// Port assignment (RFC 4787 §4.2.1).
    pub ports: PortAssignment,
    /// Lowest external port the NAT assigns (inclusive).
    pub port_min: u16,
    /// Highest external port the NAT assigns (inclusive).
    pub port_max: u16,
    /// Port parity preservation (RFC 4787 §4.2.2): an even internal port gets an even external one.
    pub parity: bool,
    /// Choice among several public addresses.
    pub pooling: Pooling,
    /// How many public addresses a topology builder (the simulator) should give this box;
    /// [`crate::Nat::new`] uses the addresses it is handed.
    pub public_addresses: u8,
    /// Mapping lifetime after the last refreshing packet (RFC 4787 §4.3).
    pub mapping_timeout: Duration,
    /// Whether admitted inbound packets also refresh the mapping (outbound always does, REQ-6).
    pub inbound_refresh: bool,
    /// Hairpinning (RFC 4787 §6): packets from inside to one of the box's own public addresses
    /// are looped back inside.
    pub hairpin: bool,
    /// With hairpinning, whether the looped-back packet carries the sender's external address
    /// (REQ-9, `true`) or its internal one (`false`, a common defect).
    pub hairpin_translate_source: bool,
    /// IPv6 behaviour.
    pub ipv6: Ipv6Mode,
    /// Cap on live mappings; a new mapping beyond it is refused.
    pub max_mappings: usize,
}

/// RFC 4787 REQ-5: "A NAT UDP mapping timer MUST NOT expire in less than two minutes".
pub const DEFAULT_MAPPING_TIMEOUT: Duration = Duration::from_secs(120);

/// Default cap on live mappings per box.
pub const DEFAULT_MAX_MAPPINGS: usize = 1 << 16;

impl Default for NatConfig {
    /// The port-restricted cone NAT, the most common home router behaviour.
    fn default() -> Self {
        Self::port_restricted_cone()
    }
}

impl NatConfig {
    fn cone(filtering: Filtering) -> Self {
        Self {
            stateful: true,
            translate: true,
            mapping: Mapping::EndpointIndependent,
            filtering,
            ports: PortAssignment::Preserve,
            port_min: 1024,
            port_max: 65535,
            parity: false,
            pooling: Pooling::Paired,
            public_addresses: 1,
            mapping_timeout: DEFAULT_MAPPING_TIMEOUT,
            inbound_refresh: false,
            hairpin: true,
            hairpin_translate_source: true,
            ipv6: Ipv6Mode::Firewall,
            max_mappings: DEFAULT_MAX_MAPPINGS,
        }
    }

    /// No NAT and no firewall: every packet passes unchanged and no state is kept.
    pub fn open() -> Self {
        Self {
            stateful: false,
            translate: false,
            filtering: Filtering::EndpointIndependent,
            ipv6: Ipv6Mode::Open,
            ..Self::cone(Filtering::EndpointIndependent)
        }
    }

    /// A stateful firewall without translation: address-and-port-dependent filtering.
    pub fn firewall() -> Self {
        Self {
            translate: false,
            ..Self::cone(Filtering::AddressAndPortDependent)
        }
    }

    /// Full cone: endpoint-independent mapping and filtering.
    pub fn full_cone() -> Self {
        Self::cone(Filtering::EndpointIndependent)
    }

    /// (Address-)restricted cone: endpoint-independent mapping, address-dependent filtering.
    pub fn restricted_cone() -> Self {
        Self::cone(Filtering::AddressDependent)
    }

    /// Port-restricted cone: endpoint-independent mapping, address-and-port-dependent filtering.
    pub fn port_restricted_cone() -> Self {
        Self::cone(Filtering::AddressAndPortDependent)
    }

    /// Symmetric: address-and-port-dependent mapping and filtering, random ports.
    pub fn symmetric() -> Self {
        Self {
            mapping: Mapping::AddressAndPortDependent,
            ports: PortAssignment::Random,
            ..Self::cone(Filtering::AddressAndPortDependent)
        }
    }

    /// Port-preserving symmetric NAT, like Linux `MASQUERADE`: a new mapping per destination,
    /// whose port is the internal port when that is free.
    pub fn masquerade() -> Self {
        Self {
            mapping: Mapping::AddressAndPortDependent,
            ports: PortAssignment::Preserve,
            ..Self::cone(Filtering::AddressAndPortDependent)
        }
    }

    /// Looks up a preset by its spec name (`open`, `firewall`, `full-cone`, `restricted`,
    /// `port-restricted`, `symmetric`, `masquerade`).
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "open" => Self::open(),
            "firewall" => Self::firewall(),
            "full-cone" => Self::full_cone(),
            "restricted" => Self::restricted_cone(),
            "port-restricted" => Self::port_restricted_cone(),
            "symmetric" => Self::symmetric(),
            "masquerade" => Self::masquerade(),
            _ => return None,
        })
    }

    /// Names of every preset, in the order of the classic table.
    pub const PRESETS: [&'static str; 7] = [
        "open",
        "firewall",
        "full-cone",
        "restricted",
        "port-restricted",
        "symmetric",
        "masquerade",
    ];

    /// How many external ports the range offers to one internal port (taking parity into account).
    pub(crate) fn range_len(&self) -> u32 {
        u32::from(self.port_max).saturating_sub(u32::from(self.port_min)) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve() {
        for name in NatConfig::PRESETS {
            assert!(NatConfig::preset(name).is_some(), "{name}");
        }
        assert!(NatConfig::preset("cone").is_none());
        assert_eq!(NatConfig::default(), NatConfig::port_restricted_cone());
        assert!(!NatConfig::open().stateful);
        assert!(!NatConfig::firewall().translate);
    }
}
