//! `icebreaker turn-client`: allocate on a TURN server, permit a peer (or bind a channel to it,
//! `--channel`), send it one datagram through the relay and print what comes back.
//! icebreaker-turn's sans-IO [`Client`] over a tokio UDP socket, TCP stream or TLS stream
//! (`turns:`, the server's certificate verified against the system's roots or `--ca`).

use core::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use icebreaker_stun::attributes::AddressFamily;
use icebreaker_stun::framing::{FramerConfig, StreamFramer};
use icebreaker_turn::{Client, ClientConfig, Event, Operation, Received, Transport};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

use crate::cli::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, emit, fail};
use crate::target::{self, TurnTarget};

/// Arguments of `icebreaker turn-client`.
#[derive(Debug, Args)]
pub struct TurnClientArgs {
    /// The server: `host:port`, `host` (port 3478), a `turn:host[:port][?transport=udp|tcp]` or
    /// a `turns:host[:port]` URI (RFC 7065; TLS, port 5349).
    #[arg(value_name = "SERVER|URI")]
    pub server: TurnTarget,
    /// For `turns:`: trust the CA certificates in this PEM file instead of the system's roots.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// The long-term credential.
    #[arg(long, value_name = "U:P")]
    pub user: String,
    /// The peer to send a datagram to through the relay.
    #[arg(long, value_name = "ADDR")]
    pub peer: SocketAddr,
    /// What to send.
    #[arg(long, value_name = "TEXT", default_value = "hello from icebreaker")]
    pub message: String,
    /// Bind a channel to the peer (ChannelBind, which also installs the permission) and send
    /// as ChannelData, instead of CreatePermission and a Send indication.
    #[arg(long)]
    pub channel: bool,
    /// Ask the server to relay the datagram with the DF bit set (DONT-FRAGMENT in the Allocate
    /// and the Send indication). A server that cannot answers 420; the allocation is then made
    /// without it, and the output says DF was refused. Not with `--channel`: ChannelData
    /// leaves the relay with DF clear.
    #[arg(long, conflicts_with = "channel")]
    pub dont_fragment: bool,
    /// Keep the allocation this many milliseconds after the answer, its timers running,
    /// before deleting it: long enough for a server's nonce to go stale, the deletion shows
    /// the 438 (Stale Nonce) answer handled.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub hold: u64,
    /// Give up after this many milliseconds in total.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// How long the client waits for the server to confirm the deletion of its allocation.
const DELETE_LIMIT: Duration = Duration::from_secs(2);

/// The meaning of a STUN/TURN error code (RFC 8489 §14.8, RFC 8656 §19).
pub fn reason(code: u16) -> &'static str {
    match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => "unknown error",
    }
}

fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Allocate => "allocate",
        Operation::Refresh => "refresh",
        Operation::DeleteFamily(_) => "delete-family",
        Operation::CreatePermission(_) => "create-permission",
        Operation::ChannelBind(..) => "channel-bind",
    }
}

/// A byte stream to the server: TCP or TLS over TCP.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// The connection to the server.
enum Conn {
    Udp(UdpSocket),
    Stream(Box<dyn Duplex>, StreamFramer),
}

impl Conn {
    async fn send(&mut self, to: SocketAddr, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Udp(s) => s.send_to(data, to).await.map(drop),
            Self::Stream(s, _) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }

    /// Waits for the next datagram(s) or frame(s).
    async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<Vec<Vec<u8>>> {
        match self {
            Self::Udp(s) => {
                let (n, _) = s.recv_from(buf).await?;
                Ok(vec![buf.get(..n).unwrap_or_default().to_vec()])
            }
            Self::Stream(s, framer) => {
                let n = s.read(buf).await?;
                if n == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                framer
                    .push(buf.get(..n).unwrap_or_default())
                    .map_err(std::io::Error::other)?;
                let mut frames = Vec::new();
                while let Some(f) = framer.next_frame().map_err(std::io::Error::other)? {
                    frames.push(f.as_bytes().to_vec());
                }
                Ok(frames)
            }
        }
    }
}

/// What a successful exchange found.
struct Exchange {
    relayed: Vec<SocketAddr>,
    mapped: Option<SocketAddr>,
    /// The channel the datagram went over (`--channel`).
    channel: Option<u16>,
    from: SocketAddr,
    data: Vec<u8>,
    rtt: Duration,
}

enum Failure {
    Refused(Operation, Option<u16>),
    Io(String),
    Timeout(&'static str),
}

/// Why [`drive`] returned.
enum Driven {
    /// The event handler said to stop.
    Stopped,
    /// A datagram from a peer came through the relay (when asked for).
    Data {
        from: SocketAddr,
        data: Vec<u8>,
        at: Instant,
    },
    /// `until` came.
    TimeUp,
}

/// Runs `client` on `conn` until `until`: sends what it queues, takes in what arrives, runs
/// its timers, and hands each event to `on_event` (which may make more requests, and returns
/// whether to stop). With `want_data`, the first datagram from a peer ends the run too.
async fn drive(
    conn: &mut Conn,
    client: &mut Client,
    (server, local): (SocketAddr, SocketAddr),
    until: Instant,
    want_data: bool,
    mut on_event: impl FnMut(&mut Client, Event) -> Result<bool, Failure>,
) -> Result<Driven, Failure> {
    let mut out = Vec::new();
    let mut rbuf = vec![0u8; 65_536];
    loop {
        // Sent before and after the events, which may have queued more.
        for round in 0..2 {
            while let Some(t) = client.poll_transmit(&mut out) {
                conn.send(t.to, &out)
                    .await
                    .map_err(|e| Failure::Io(format!("cannot send to {server}: {e}")))?;
            }
            while round == 0
                && let Some(e) = client.poll_event()
            {
                if on_event(client, e)? {
                    return Ok(Driven::Stopped);
                }
            }
        }
        let wake = client.poll_timeout().map_or(until, |t| t.min(until));
        let got = tokio::select! {
            r = conn.recv(&mut rbuf) => Some(r),
            () = tokio::time::sleep_until(wake.into()) => None,
        };
        let now = Instant::now();
        match got {
            Some(Ok(frames)) => {
                for f in frames {
                    if let Received::PeerData { peer, data } =
                        client.handle_receive(now, server, local, &f)
                        && want_data
                    {
                        return Ok(Driven::Data {
                            from: peer,
                            data: data.to_vec(),
                            at: now,
                        });
                    }
                }
            }
            Some(Err(e)) => return Err(Failure::Io(format!("{server}: {e}"))),
            None if now >= until => return Ok(Driven::TimeUp),
            None => client.handle_timeout(now),
        }
    }
}

/// Allocates, asks for a permission (or binds a channel), sends the message to the peer and
/// waits for its answer through the relay, all before `deadline`.
async fn exchange(
    conn: &mut Conn,
    client: &mut Client,
    addrs: (SocketAddr, SocketAddr),
    args: &TurnClientArgs,
    deadline: Instant,
) -> Result<Exchange, Failure> {
    let (peer, message, channel) = (args.peer, args.message.as_bytes(), args.channel);
    let mut stage = "allocate";
    let mut relayed = Vec::new();
    let mut mapped = None;
    let mut sent_at = None;
    let mut bound = None;
    client.allocate(Instant::now());
    let driven = drive(conn, client, addrs, deadline, true, |client, e| {
        match e {
            Event::Allocated {
                relayed: r,
                mapped: m,
                ..
            } => {
                relayed = r;
                mapped = m;
                let asked = if channel {
                    stage = "channel-bind";
                    client.bind_channel(Instant::now(), peer).map(drop)
                } else {
                    stage = "create-permission";
                    client.create_permission(Instant::now(), peer.ip())
                };
                asked.map_err(|e| Failure::Io(e.to_string()))?;
            }
            // The peer may be sent to: with a channel, once it is bound.
            Event::PermissionCreated(_) | Event::ChannelBound { .. } if sent_at.is_none() => {
                if let Event::ChannelBound {
                    channel: number, ..
                } = e
                {
                    bound = Some(number);
                } else if channel {
                    return Ok(false);
                }
                stage = "an answer from the peer";
                client
                    .send_to(peer, message)
                    .map_err(|e| Failure::Io(e.to_string()))?;
                sent_at = Some(Instant::now());
            }
            Event::Failed { operation, code } => return Err(Failure::Refused(operation, code)),
            _ => {}
        }
        Ok(false)
    })
    .await?;
    match driven {
        Driven::Data { from, data, at } => Ok(Exchange {
            relayed,
            mapped,
            channel: bound,
            from,
            data,
            rtt: sent_at.map_or(Duration::ZERO, |s| at - s),
        }),
        Driven::Stopped | Driven::TimeUp => Err(Failure::Timeout(stage)),
    }
}

/// Connects over TCP, then for TLS makes the handshake (verifying the server's certificate
/// for the host named in SERVER); the whole within `--timeout`. On failure, the exit status.
async fn connect_stream(
    args: &TurnClientArgs,
    server: SocketAddr,
    transport: Transport,
) -> Result<(Conn, SocketAddr), u8> {
    let tls = if transport == Transport::Tls {
        let config =
            crate::tls::client_config(args.ca.as_deref()).map_err(|e| fail(EXIT_BAD_INPUT, e))?;
        let name = crate::tls::server_name(&args.server.server.host)
            .map_err(|e| fail(EXIT_BAD_INPUT, e))?;
        Some((tokio_rustls::TlsConnector::from(config), name))
    } else {
        None
    };
    let connect = async {
        let stream = TcpStream::connect(server).await?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr()?;
        let conn: Box<dyn Duplex> = match tls {
            Some((connector, name)) => Box::new(connector.connect(name, stream).await?),
            None => Box::new(stream),
        };
        Ok::<_, std::io::Error>((conn, local))
    };
    match tokio::time::timeout(Duration::from_millis(args.timeout), connect).await {
        Ok(Ok((conn, local))) => Ok((
            Conn::Stream(conn, StreamFramer::new(FramerConfig::default())),
            local,
        )),
        Ok(Err(e)) => Err(fail(
            EXIT_FAILURE,
            format_args!("cannot connect to {server}: {e}"),
        )),
        Err(_) => Err(fail(
            EXIT_FAILURE,
            format_args!("cannot connect to {server}: timed out"),
        )),
    }
}

/// Runs `icebreaker turn-client`; returns the exit status.
pub async fn run(args: TurnClientArgs) -> u8 {
    let Some((user, pass)) = args.user.split_once(':').filter(|(u, _)| !u.is_empty()) else {
        return fail(EXIT_BAD_INPUT, "--user wants U:P");
    };
    let server = match args.server.server.resolve(None).await {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format_args!("cannot resolve {}: {e}", args.server.server),
            );
        }
    };
    if server.is_ipv4() != args.peer.is_ipv4() {
        tracing::debug!("the peer's family differs from the server's");
    }
    let seed = match crate::entropy::os_seeded_rng() {
        Ok(mut rng) => {
            use rand_chacha::rand_core::Rng as _;
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        }
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    let transport = args.server.transport;
    let (mut conn, local) = match transport {
        Transport::Udp => {
            let sock = match UdpSocket::bind(target::default_bind(server)).await {
                Ok(s) => s,
                Err(e) => return fail(EXIT_FAILURE, format_args!("cannot bind: {e}")),
            };
            let local = sock
                .local_addr()
                .unwrap_or_else(|_| target::default_bind(server));
            (Conn::Udp(sock), local)
        }
        Transport::Tcp | Transport::Tls => match connect_stream(&args, server, transport).await {
            Ok(pair) => pair,
            Err(code) => return code,
        },
    };
    let mut config = ClientConfig::new(local, server, user, pass);
    config.transport = transport;
    config.rng_seed = seed;
    // Relay in the peer's family: without REQUESTED-ADDRESS-FAMILY a server allocates IPv4
    // (RFC 8656 §7.1) and then refuses a permission for an IPv6 peer with 443.
    if args.peer.is_ipv6() {
        config.requested_family = Some(AddressFamily::V6);
    }
    config.dont_fragment = args.dont_fragment;
    config.dont_fragment_fallback = true;
    let mut client = Client::new(config);
    let deadline = Instant::now() + Duration::from_millis(args.timeout);
    let result = exchange(&mut conn, &mut client, (server, local), &args, deadline).await;
    // Hold the allocation (`--hold`), then give it back, waiting a little for the server to
    // confirm: with a stale nonce by then, that takes a 438 and a retry.
    let mut deleted = false;
    if result.is_ok() {
        let held = drive(
            &mut conn,
            &mut client,
            (server, local),
            Instant::now() + Duration::from_millis(args.hold),
            false,
            |_, _| Ok(false),
        )
        .await;
        if held.is_ok() && client.delete(Instant::now()).is_ok() {
            let _ = drive(
                &mut conn,
                &mut client,
                (server, local),
                Instant::now() + DELETE_LIMIT,
                false,
                |_, e| {
                    deleted = e == Event::Deleted;
                    Ok(matches!(e, Event::Deleted | Event::Failed { .. }))
                },
            )
            .await;
        }
    } else if client.delete(Instant::now()).is_ok() {
        // Best effort after a failure: send the deletion, do not wait for it.
        let mut out = Vec::new();
        while let Some(t) = client.poll_transmit(&mut out) {
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.send(t.to, &out)).await;
        }
    }
    let transport_name = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    };
    match result {
        Ok(x) => {
            if args.json {
                let v = json!({
                    "server": server.to_string(),
                    "transport": transport_name,
                    "local": local.to_string(),
                    "mapped": x.mapped.map(|a| a.to_string()),
                    "relayed": x.relayed.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "peer": args.peer.to_string(),
                    "channel": x.channel,
                    "sent": args.message,
                    "from": x.from.to_string(),
                    "received": String::from_utf8_lossy(&x.data),
                    "received_hex": hex::encode(&x.data),
                    "deleted": deleted,
                    "dont_fragment": args.dont_fragment.then(|| client.dont_fragment()),
                    "rtt_ms": x.rtt.as_secs_f64() * 1000.0,
                });
                emit(&format!("{v}\n"));
            } else {
                let relayed: Vec<String> = x.relayed.iter().map(ToString::to_string).collect();
                let mut out = format!("server           {server} ({transport_name})\n");
                out += &format!("relayed address  {}\n", relayed.join(", "));
                if let Some(m) = x.mapped {
                    out += &format!("mapped address   {m}\n");
                }
                out += &format!("sent to          {}  {:?}\n", args.peer, args.message);
                if let Some(c) = x.channel {
                    out += &format!("over channel     {c:#06x}\n");
                }
                if args.dont_fragment {
                    out += if client.dont_fragment() {
                        "dont fragment    accepted: the relay sends with the DF bit set\n"
                    } else {
                        "dont fragment    refused: the server cannot set DF (420), sent without\n"
                    };
                }
                out += &format!(
                    "received from    {}  {:?}\n",
                    x.from,
                    String::from_utf8_lossy(&x.data)
                );
                out += &format!("rtt              {:.3} ms\n", x.rtt.as_secs_f64() * 1000.0);
                emit(&out);
            }
            EXIT_OK
        }
        Err(Failure::Refused(op, code)) => {
            let what = match op {
                Operation::CreatePermission(ip) => format!("permission for {ip}"),
                Operation::ChannelBind(_, p) => format!("channel to {p}"),
                Operation::Allocate => "allocation".into(),
                Operation::Refresh => "refresh".into(),
                Operation::DeleteFamily(f) => format!("deletion of the {f:?} relayed address"),
            };
            if args.json {
                let v: Value = json!({
                    "error": {
                        "operation": operation_name(op),
                        "code": code,
                        "reason": code.map(reason),
                    }
                });
                emit(&format!("{v}\n"));
            }
            match code {
                Some(c) => fail(
                    EXIT_FAILURE,
                    format_args!("{server} refused the {what}: {c} {}", reason(c)),
                ),
                None => fail(
                    EXIT_FAILURE,
                    format_args!("{server} did not answer the {what} request"),
                ),
            }
        }
        Err(Failure::Io(e)) => fail(EXIT_FAILURE, e),
        Err(Failure::Timeout(stage)) => fail(
            EXIT_FAILURE,
            format_args!("timed out after {} ms waiting for {stage}", args.timeout),
        ),
    }
}
