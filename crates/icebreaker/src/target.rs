//! The SERVER argument of `stun-client` and `nat-type`: `host:port`, `host` (port 3478) or a
//! `stun:` URI (RFC 7064), and its resolution to one socket address.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use core::str::FromStr;

/// The default STUN port (RFC 8489 §18.5).
pub const DEFAULT_PORT: u16 = 3478;

/// A STUN server as given on the command line, before name resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// A host name or an IP literal (IPv6 without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
}

/// Why a SERVER argument is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSpecError {
    /// Nothing where the host should be.
    EmptyHost,
    /// The port is not a number in 1..=65535.
    BadPort(String),
    /// A `stuns:` URI: STUN over TLS is not supported.
    TlsUnsupported,
    /// A bracketed IPv6 literal without its closing bracket, or with junk after it.
    BadBrackets,
    /// `turns:` with `?transport=udp`: that would be DTLS, which is not supported.
    DtlsUnsupported,
    /// A `?transport=` other than `udp` or `tcp`, or another query.
    BadTransport(String),
}

impl fmt::Display for ServerSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyHost => f.write_str("no host given"),
            Self::BadPort(p) => write!(f, "port {p:?} is not a number between 1 and 65535"),
            Self::TlsUnsupported => {
                f.write_str("stuns: (STUN over TLS) is not supported; use stun:")
            }
            Self::BadBrackets => f.write_str("malformed [IPv6] literal"),
            Self::DtlsUnsupported => f.write_str(
                "turns: with transport=udp (DTLS) is not supported; use turns: (TLS over TCP)",
            ),
            Self::BadTransport(q) => {
                write!(
                    f,
                    "unsupported query {q:?} (expected transport=udp or transport=tcp)"
                )
            }
        }
    }
}

impl std::error::Error for ServerSpecError {}

fn port(s: &str) -> Result<u16, ServerSpecError> {
    match s.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ServerSpecError::BadPort(s.to_owned())),
    }
}

impl FromStr for ServerSpec {
    type Err = ServerSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("stuns:") {
            return Err(ServerSpecError::TlsUnsupported);
        }
        // RFC 7064: stun-URI = "stun:" host [ ":" port ]; the scheme is case-insensitive.
        let rest = if lower.starts_with("stun:") {
            &s[5..]
        } else {
            s
        };
        // Tolerate "stun://host" as some tools write it.
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        // A trailing "?transport=udp" as in TURN URIs is ignored.
        let rest = rest.split('?').next().unwrap_or(rest);

        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or(ServerSpecError::BadBrackets)?;
            let port = match after {
                "" => DEFAULT_PORT,
                p => port(p.strip_prefix(':').ok_or(ServerSpecError::BadBrackets)?)?,
            };
            (host, port)
        } else if rest.parse::<IpAddr>().is_ok() {
            // A bare IP literal, including an IPv6 one without brackets.
            (rest, DEFAULT_PORT)
        } else if let Some((host, p)) = rest.rsplit_once(':') {
            (host, port(p)?)
        } else {
            (rest, DEFAULT_PORT)
        };
        if host.is_empty() {
            return Err(ServerSpecError::EmptyHost);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ServerSpec {
    /// Resolves the host, preferring an address of the same family as `bind` when one is
    /// given, and IPv4 otherwise.
    pub async fn resolve(&self, bind: Option<SocketAddr>) -> std::io::Result<SocketAddr> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let all: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect();
        let wanted_v6 = bind.is_some_and(|b| b.is_ipv6());
        all.iter()
            .find(|a| a.is_ipv6() == wanted_v6)
            .or_else(|| all.first())
            .copied()
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} has no address", self.host),
                )
            })
    }
}

/// The wildcard address of the server's family: where a client binds when not told.
pub fn default_bind(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().unwrap_or_else(|_| unreachable!()),
        SocketAddr::V6(_) => "[::]:0".parse().unwrap_or_else(|_| unreachable!()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<(String, u16), ServerSpecError> {
        s.parse::<ServerSpec>().map(|s| (s.host, s.port))
    }

    #[test]
    fn parse_forms() {
        assert_eq!(spec("127.0.0.1:3479"), Ok(("127.0.0.1".into(), 3479)));
        assert_eq!(spec("127.0.0.1"), Ok(("127.0.0.1".into(), 3478)));
        assert_eq!(
            spec("stun.example.org"),
            Ok(("stun.example.org".into(), 3478))
        );
        assert_eq!(
            spec("stun:stun.example.org:19302"),
            Ok(("stun.example.org".into(), 19302))
        );
        assert_eq!(spec("STUN:example.org"), Ok(("example.org".into(), 3478)));
        assert_eq!(spec("stun:[::1]:5000"), Ok(("::1".into(), 5000)));
        assert_eq!(spec("[2001:db8::1]"), Ok(("2001:db8::1".into(), 3478)));
        assert_eq!(spec("::1"), Ok(("::1".into(), 3478)));
        assert_eq!(
            spec("stun:example.org?transport=udp"),
            Ok(("example.org".into(), 3478))
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            spec("stuns:example.org"),
            Err(ServerSpecError::TlsUnsupported)
        );
        assert_eq!(
            spec("example.org:0"),
            Err(ServerSpecError::BadPort("0".into()))
        );
        assert_eq!(
            spec("example.org:http"),
            Err(ServerSpecError::BadPort("http".into()))
        );
        assert_eq!(spec(":3478"), Err(ServerSpecError::EmptyHost));
        assert_eq!(spec("stun:"), Err(ServerSpecError::EmptyHost));
        assert_eq!(spec("[::1"), Err(ServerSpecError::BadBrackets));
        assert_eq!(spec("[::1]x"), Err(ServerSpecError::BadBrackets));
    }

    #[test]
    fn display_round_trips() {
        for s in ["127.0.0.1:3478", "[::1]:3478", "example.org:1"] {
            assert_eq!(
                s.parse::<ServerSpec>().map(|s| s.to_string()),
                Ok(s.to_owned())
            );
        }
    }
}

/// A TURN server as given to `turn-client`: `host[:port]`, or a
/// `turn:host[:port][?transport=udp|tcp]` or `turns:host[:port][?transport=tcp]` URI (RFC 7065).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnTarget {
    /// Host and port (3478 by default, 5349 for `turns:`).
    pub server: ServerSpec,
    /// UDP unless the URI asks for TCP; TLS for `turns:`.
    pub transport: icebreaker_turn::Transport,
}

/// Whether a `host[:port]` part names a port (an IPv6 literal needs brackets for that).
fn has_port(rest: &str) -> bool {
    if let Some(inner) = rest.strip_prefix('[') {
        return inner
            .split_once(']')
            .is_some_and(|(_, after)| !after.is_empty());
    }
    rest.parse::<IpAddr>().is_err() && rest.contains(':')
}

impl FromStr for TurnTarget {
    type Err = ServerSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use icebreaker_turn::Transport;
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        // RFC 7065: turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ], with
        // scheme "turn" or "turns" (case-insensitive); turns defaults to port 5349.
        let (secure, rest) = if lower.starts_with("turns:") {
            (true, &s[6..])
        } else if lower.starts_with("turn:") {
            (false, &s[5..])
        } else {
            (false, s)
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let transport = match (secure, query.map(str::to_ascii_lowercase).as_deref()) {
            (false, None | Some("transport=udp")) => Transport::Udp,
            (false, Some("transport=tcp")) => Transport::Tcp,
            (true, None | Some("transport=tcp")) => Transport::Tls,
            (true, Some("transport=udp")) => return Err(ServerSpecError::DtlsUnsupported),
            (_, Some(_)) => {
                return Err(ServerSpecError::BadTransport(
                    query.unwrap_or_default().to_owned(),
                ));
            }
        };
        let mut server: ServerSpec = rest.parse()?;
        if secure && !has_port(rest.strip_prefix("//").unwrap_or(rest)) {
            server.port = crate::tls::DEFAULT_TLS_PORT;
        }
        Ok(Self { server, transport })
    }
}

#[cfg(test)]
mod turn_tests {
    use super::*;
    use icebreaker_turn::Transport;

    fn turn(s: &str) -> Result<(String, u16, Transport), ServerSpecError> {
        s.parse::<TurnTarget>()
            .map(|t| (t.server.host, t.server.port, t.transport))
    }

    #[test]
    fn parse_turn_and_turns_uris() {
        assert_eq!(
            turn("turn:example.org"),
            Ok(("example.org".into(), 3478, Transport::Udp))
        );
        assert_eq!(
            turn("turn:example.org:3479?transport=tcp"),
            Ok(("example.org".into(), 3479, Transport::Tcp))
        );
        assert_eq!(
            turn("turns:example.org"),
            Ok(("example.org".into(), 5349, Transport::Tls))
        );
        assert_eq!(
            turn("TURNS:example.org:443"),
            Ok(("example.org".into(), 443, Transport::Tls))
        );
        assert_eq!(
            turn("turns:[::1]"),
            Ok(("::1".into(), 5349, Transport::Tls))
        );
        assert_eq!(
            turn("turns:[::1]:5350?transport=tcp"),
            Ok(("::1".into(), 5350, Transport::Tls))
        );
        assert_eq!(
            turn("turns:127.0.0.1"),
            Ok(("127.0.0.1".into(), 5349, Transport::Tls))
        );
        assert_eq!(
            turn("127.0.0.1:3478"),
            Ok(("127.0.0.1".into(), 3478, Transport::Udp))
        );
    }

    #[test]
    fn parse_turn_uri_errors() {
        assert_eq!(
            turn("turns:example.org?transport=udp"),
            Err(ServerSpecError::DtlsUnsupported)
        );
        assert_eq!(
            turn("turn:example.org?transport=sctp"),
            Err(ServerSpecError::BadTransport("transport=sctp".into()))
        );
        assert_eq!(turn("turns:"), Err(ServerSpecError::EmptyHost));
        assert_eq!(
            turn("turns:example.org:0"),
            Err(ServerSpecError::BadPort("0".into()))
        );
    }
}
