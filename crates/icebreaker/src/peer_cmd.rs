//! `icebreaker peer`: a [`Peer`](crate::peer::Peer) on real sockets, signalling over stdio
//! (JSON lines, DESIGN.md) or through `icebreaker signal-server` (`ws://HOST:PORT/ROOM`).
//!
//! Stdout carries one JSON message per line: over stdio every message (offer, answer,
//! candidates to give the other side; state, selected, message, error reports); over
//! WebSocket the reports only, the rest going to the room. Stdin takes JSON messages
//! (offer, answer, candidate, send; a browser's `RTCSessionDescription` and
//! `RTCIceCandidate.toJSON()` as they are), and any other line is text to send to the other
//! peer once connected.

use std::time::Duration;

use clap::{Args, ValueEnum};
use futures_util::{SinkExt as _, StreamExt as _};
use icebreaker_ice::{AgentConfig, TurnServer};
use rand_chacha::rand_core::Rng as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, fail};
use crate::driver::{self, DriverOptions};
use crate::peer::{MAX_SIGNAL_LEN, PeerConfig, Reports, Role, Signal};
use crate::target::{ServerSpec, TurnTarget};

/// `--role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Make the offer (the controlling agent).
    Offer,
    /// Wait for an offer and answer it.
    Answer,
}

/// Arguments of `icebreaker peer`.
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// Signalling: `stdio` (JSON lines) or `ws://HOST:PORT/ROOM` (an `icebreaker signal-server`).
    #[arg(
        long,
        value_name = "stdio|ws://HOST:PORT/ROOM",
        default_value = "stdio"
    )]
    pub signal: String,
    /// Offer or answer. Default over ws://: the first in the room offers. Default over stdio:
    /// offer, and answer instead if an offer arrives first.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// A STUN server, `stun:host[:port]` (RFC 7064) or `host[:port]`; repeatable.
    #[arg(long = "stun", value_name = "URI")]
    pub stun: Vec<ServerSpec>,
    /// A TURN server, `turn:host[:port][?transport=udp|tcp]` or `turns:host[:port]` (TLS)
    /// (RFC 7065); repeatable, each one an allocation and a relayed candidate of its own (a
    /// server reached over UDP, TCP and TLS, as browsers' `iceServers` list it). Relaying to
    /// the other peer is UDP whichever way the server is reached.
    #[arg(long, value_name = "URI", requires_all = ["turn_user", "turn_pass"])]
    pub turn: Vec<TurnTarget>,
    /// For the `turns:` servers: trust the CA certificates in this PEM file instead of the
    /// system's roots.
    #[arg(long, value_name = "PEM", requires = "turn")]
    pub turn_ca: Option<std::path::PathBuf>,
    /// The TURN username (for every --turn server).
    #[arg(long, value_name = "U")]
    pub turn_user: Option<String>,
    /// The TURN password (for every --turn server).
    #[arg(long, value_name = "P")]
    pub turn_pass: Option<String>,
    /// Use relayed candidates only (hides the host's addresses; needs --turn).
    #[arg(long, requires = "turn")]
    pub relay_only: bool,
    /// Do not trickle candidates: the offer or answer waits until gathering is done and carries
    /// every candidate, so one message each way is the whole exchange (a QR code, a pasted
    /// message). A peer that does not trickle is answered that way anyway (RFC 8838).
    #[arg(long)]
    pub no_trickle: bool,
    /// Restart ICE by itself when the connection fails (consent lost, or no pair working): a
    /// new offer with fresh credentials, at most 3 times in a row without connecting.
    #[arg(long)]
    pub restart_on_failure: bool,
    /// Be an ICE-lite agent (answers checks, never sends them; host candidates only).
    #[arg(long)]
    pub lite: bool,
    /// Bind on 127.0.0.1 only instead of every interface.
    #[arg(long)]
    pub loopback: bool,
}

enum Channel {
    Stdio,
    Ws(String),
}

/// Runs `icebreaker peer` until Ctrl-C or SIGTERM; returns the exit status.
pub async fn run(args: PeerArgs) -> u8 {
    let channel = if args.signal == "stdio" {
        Channel::Stdio
    } else if args.signal.starts_with("ws://") {
        Channel::Ws(args.signal.clone())
    } else {
        return fail(
            EXIT_BAD_INPUT,
            format_args!(
                "--signal wants stdio or ws://HOST:PORT/ROOM, got {:?}",
                args.signal
            ),
        );
    };
    let mut stun_servers = Vec::new();
    for s in &args.stun {
        match s.resolve(None).await {
            Ok(a) => stun_servers.push(a),
            Err(e) => return fail(EXIT_FAILURE, format_args!("STUN server {s}: {e}")),
        }
    }
    let is_tls = |t: &TurnTarget| t.transport == icebreaker_turn::Transport::Tls;
    if args.turn_ca.is_some() && !args.turn.iter().any(is_tls) {
        return fail(EXIT_BAD_INPUT, "--turn-ca is for a turns: server");
    }
    let mut turn_servers = Vec::with_capacity(args.turn.len());
    let mut stream_turns = Vec::new();
    for t in &args.turn {
        let tls = if is_tls(t) {
            let config = match crate::tls::client_config(args.turn_ca.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(EXIT_BAD_INPUT, format_args!("--turn-ca: {e}")),
            };
            let name = match crate::tls::server_name(&t.server.host) {
                Ok(n) => n,
                Err(e) => return fail(EXIT_BAD_INPUT, format_args!("--turn {}: {e}", t.server)),
            };
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        let server = match t.server.resolve(None).await {
            Ok(a) => a,
            Err(e) => return fail(EXIT_FAILURE, format_args!("TURN server {}: {e}", t.server)),
        };
        // The same server named twice is one allocation.
        if turn_servers
            .iter()
            .any(|s: &TurnServer| s.server == server && s.transport == t.transport)
        {
            continue;
        }
        if t.transport != icebreaker_turn::Transport::Udp {
            stream_turns.push(driver::StreamTurn { server, tls });
        }
        turn_servers.push(TurnServer {
            server,
            transport: t.transport,
            username: args.turn_user.clone().unwrap_or_default(),
            password: args.turn_pass.clone().unwrap_or_default(),
        });
    }
    let mut rng_seed = [0u8; 32];
    match crate::entropy::os_seeded_rng() {
        Ok(mut rng) => rng.fill_bytes(&mut rng_seed),
        Err(e) => return fail(EXIT_FAILURE, e),
    }
    let sockets = match driver::bind_sockets(&driver::interface_addresses(args.loopback)).await {
        Ok(s) => s,
        Err(e) => return fail(EXIT_FAILURE, format_args!("cannot bind UDP sockets: {e}")),
    };
    let stop = match crate::cli::shutdown_signal() {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format_args!("cannot watch for Ctrl-C/SIGTERM: {e}"),
            );
        }
    };
    let agent = AgentConfig {
        lite: args.lite,
        stun_servers,
        turn_servers,
        relay_only: args.relay_only,
        rng_seed,
        ..AgentConfig::default()
    };
    let (in_tx, in_rx) = mpsc::channel::<Signal>(256);
    let (out_tx, mut out_rx) = mpsc::channel::<Signal>(256);
    // Stdout: one writer, fed by everyone.
    let (print_tx, mut print_rx) = mpsc::channel::<String>(256);
    let printer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = print_rx.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err()
                || stdout.write_all(b"\n").await.is_err()
                || stdout.flush().await.is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(stdin_reader(in_tx.clone(), print_tx.clone()));

    let (role, auto_role) = match channel {
        Channel::Stdio => {
            let print = print_tx.clone();
            tokio::spawn(async move {
                while let Some(s) = out_rx.recv().await {
                    let _ = print.send(s.to_json()).await;
                }
            });
            match args.role {
                Some(RoleArg::Answer) => (Role::Answerer, false),
                Some(RoleArg::Offer) => (Role::Offerer, false),
                None => (Role::Offerer, true),
            }
        }
        Channel::Ws(url) => {
            let (ws, _) = match tokio::time::timeout(
                Duration::from_secs(10),
                tokio_tungstenite::connect_async(url.as_str()),
            )
            .await
            {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => return fail(EXIT_FAILURE, format_args!("{url}: {e}")),
                Err(_) => return fail(EXIT_FAILURE, format_args!("{url}: timed out")),
            };
            let (mut sink, mut frames) = ws.split();
            // The server's first message says how many peers the room has.
            let first = match tokio::time::timeout(Duration::from_secs(10), frames.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => t.as_str().to_owned(),
                Ok(Some(Ok(other))) => {
                    return fail(EXIT_FAILURE, format_args!("{url}: unexpected {other:?}"));
                }
                Ok(Some(Err(e))) => return fail(EXIT_FAILURE, format_args!("{url}: {e}")),
                Ok(None) => return fail(EXIT_FAILURE, format_args!("{url}: closed")),
                Err(_) => {
                    return fail(
                        EXIT_FAILURE,
                        format_args!("{url}: no answer from the server"),
                    );
                }
            };
            let joined: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
            if joined["type"] != "joined" {
                return fail(EXIT_FAILURE, format_args!("{url}: {first}"));
            }
            let first_in_room = joined["peers"].as_u64() == Some(1);
            tracing::info!(%url, first_in_room, "joined the room");
            let print = print_tx.clone();
            tokio::spawn(async move {
                while let Some(s) = out_rx.recv().await {
                    if s.is_for_remote() {
                        if sink.send(Message::text(s.to_json())).await.is_err() {
                            let _ = print
                                .send(error_json("the signalling server closed the connection"))
                                .await;
                        }
                    } else {
                        let _ = print.send(s.to_json()).await;
                    }
                }
            });
            let (tx, print) = (in_tx.clone(), print_tx.clone());
            tokio::spawn(async move {
                while let Some(frame) = frames.next().await {
                    let text = match frame {
                        Ok(Message::Text(t)) => t.as_str().to_owned(),
                        Ok(Message::Close(_)) | Err(_) => break,
                        Ok(_) => continue,
                    };
                    match from_room(&text) {
                        FromRoom::Remote(s) => {
                            let _ = tx.send(s).await;
                        }
                        FromRoom::Show(line) => {
                            let _ = print.send(line).await;
                        }
                        FromRoom::Ignore(why) => tracing::debug!("from the room, ignored: {why}"),
                    }
                }
                let _ = print
                    .send(error_json("the signalling server closed the connection"))
                    .await;
            });
            match args.role {
                Some(RoleArg::Answer) => (Role::Answerer, false),
                Some(RoleArg::Offer) => (Role::Offerer, false),
                None if first_in_room => (Role::Offerer, false),
                None => (Role::Answerer, false),
            }
        }
    };
    drop(in_tx);
    let options = DriverOptions {
        config: PeerConfig {
            role,
            agent,
            host_addresses: Vec::new(),
            reports: Reports::Signals,
            trickle: !args.no_trickle,
            restart_on_failure: args.restart_on_failure,
        },
        auto_role,
        stream_turns,
    };
    driver::run(options, sockets, in_rx, out_tx, stop).await;
    drop(print_tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), printer).await;
    tracing::info!("stopped");
    EXIT_OK
}

/// What to do with a text frame from the signalling server's room.
#[derive(Debug, PartialEq, Eq)]
enum FromRoom {
    /// The other peer's offer, answer or candidate: for the local peer.
    Remote(Signal),
    /// For the user: the server's errors (prefixed as such; the server relays no `error` from a
    /// peer) and its `joined` and `left` notices, unchanged.
    Show(String),
    /// Anything else; the reason, for the log. The other peer cannot make this one send data
    /// (`send` comes only from the local user) nor speak in its name (`state`, `message` ...).
    Ignore(String),
}

fn from_room(text: &str) -> FromRoom {
    match Signal::parse(text) {
        Ok(s) if s.is_for_remote() => FromRoom::Remote(s),
        Ok(Signal::Error { message }) => {
            FromRoom::Show(error_json(&format!("signalling server: {message}")))
        }
        Ok(_) => FromRoom::Ignore(
            "a report or a request (send, restart, stats) that only the local side makes".into(),
        ),
        Err(e) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v["type"] == "left" || v["type"] == "joined" => {
                FromRoom::Show(text.to_owned())
            }
            _ => FromRoom::Ignore(e.to_string()),
        },
    }
}

fn error_json(message: &str) -> String {
    Signal::Error {
        message: message.into(),
    }
    .to_json()
}

/// Reads stdin line by line (each bounded by [`MAX_SIGNAL_LEN`]): JSON lines are signalling
/// messages, other non-empty lines text to send.
async fn stdin_reader(tx: mpsc::Sender<Signal>, print: mpsc::Sender<String>) {
    let mut reader = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut too_long = false;
        // Reads up to the newline, keeping at most MAX_SIGNAL_LEN + 1 bytes.
        let eof = loop {
            let Ok(chunk) = reader.fill_buf().await else {
                break true;
            };
            if chunk.is_empty() {
                break true;
            }
            let (part, done) = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => (&chunk[..i], i + 1),
                None => (chunk, chunk.len()),
            };
            if line.len() + part.len() > MAX_SIGNAL_LEN {
                too_long = true;
            } else {
                line.extend_from_slice(part);
            }
            let newline = done > part.len();
            reader.consume(done);
            if newline {
                break false;
            }
        };
        if too_long {
            let _ = print
                .send(error_json(&format!(
                    "line over the limit of {MAX_SIGNAL_LEN} bytes ignored"
                )))
                .await;
        } else {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.starts_with('{') {
                match Signal::parse(text) {
                    Ok(s) => {
                        let _ = tx.send(s).await;
                    }
                    Err(e) => {
                        let _ = print.send(error_json(&e.to_string())).await;
                    }
                }
            } else if !text.is_empty() {
                let _ = tx
                    .send(Signal::Send {
                        data: text.to_owned(),
                    })
                    .await;
            }
        }
        if eof {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_other_peers_offer_answer_and_candidates_reach_the_local_peer() {
        let offer = r#"{"type":"offer","sdp":"v=0\r\n"}"#;
        assert!(matches!(
            from_room(offer),
            FromRoom::Remote(Signal::Offer { .. })
        ));
        let candidate = r#"{"type":"candidate","candidate":""}"#;
        assert!(matches!(
            from_room(candidate),
            FromRoom::Remote(Signal::Candidate { .. })
        ));
        // The other side may not make this one send, nor report states in its name.
        for text in [
            r#"{"type":"send","data":"make me say this"}"#,
            r#"{"type":"restart"}"#,
            r#"{"type":"message","data":"forged"}"#,
            r#"{"type":"state","state":"failed"}"#,
            r#"{"type":"state","state":1}"#,
            r#"{"type":"message"}"#,
            r#"{"type":"whatever","text":"shown to the user?"}"#,
            "not JSON",
            "[1]",
        ] {
            assert!(matches!(from_room(text), FromRoom::Ignore(_)), "{text}");
        }
        assert_eq!(
            from_room(r#"{"type":"error","message":"rate limit: message dropped"}"#),
            FromRoom::Show(error_json("signalling server: rate limit: message dropped"))
        );
        assert_eq!(
            from_room(r#"{"type":"left"}"#),
            FromRoom::Show(r#"{"type":"left"}"#.into())
        );
    }
}
