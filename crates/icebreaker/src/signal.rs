//! `icebreaker signal-server`: WebSocket rooms of two peers that relay signalling messages.
//!
//! A peer connects to `ws://HOST:PORT/ROOM`. The server answers with
//! `{"type":"joined","room":"ROOM","peers":N}` (N = 1 for the first peer, which becomes the
//! offerer unless told otherwise), then relays every text frame unchanged to the other peer of
//! the room; frames sent while the peer is alone are kept (bounded) and delivered when the
//! second one arrives. When a peer leaves, the other gets `{"type":"left"}`.
//!
//! Limits, each answered with `{"type":"error","message":...}` rather than a dropped server:
//! messages of at most [`MAX_MESSAGE`] bytes that are JSON objects (binary frames are refused),
//! a per-connection token bucket ([`SignalServerConfig::rate`]), at most
//! [`SignalServerConfig::max_rooms`] rooms, two peers per room, and rooms with no traffic for
//! [`SignalServerConfig::idle`] are closed.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::cli::{EXIT_FAILURE, EXIT_OK, emit, fail};

/// The largest message relayed (bytes of one text frame).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Frames larger than this are refused by the WebSocket layer and close the connection; frames
/// between [`MAX_MESSAGE`] and this get an error message and the connection goes on.
const MAX_FRAME: usize = 1024 * 1024;
/// Messages kept for a peer that has not joined yet.
const MAX_PENDING: usize = 256;
/// Frames queued towards one connection.
const QUEUE: usize = 256;
/// Longest room name.
const MAX_ROOM_NAME: usize = 64;

/// Arguments of `icebreaker signal-server`.
#[derive(Debug, Args)]
pub struct SignalServerArgs {
    /// The TCP address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Most rooms open at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_rooms: usize,
    /// Seconds without traffic after which a room is closed.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub idle: u64,
}

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct SignalServerConfig {
    /// Most rooms open at once.
    pub max_rooms: usize,
    /// A room with no traffic for this long is closed.
    pub idle: Duration,
    /// Messages per second each connection may send (sustained).
    pub rate: f64,
    /// Messages a connection may send in a burst.
    pub burst: f64,
}

impl Default for SignalServerConfig {
    fn default() -> Self {
        Self {
            max_rooms: 1024,
            idle: Duration::from_secs(600),
            rate: 50.0,
            burst: 200.0,
        }
    }
}

#[derive(Debug)]
struct Room {
    peers: Vec<(u64, mpsc::Sender<Message>)>,
    /// Messages sent while alone, for the next peer.
    pending: VecDeque<Message>,
    last: Instant,
}

#[derive(Debug, Default)]
struct Rooms {
    rooms: HashMap<String, Room>,
    next_id: u64,
}

type Shared = Arc<Mutex<Rooms>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Rooms> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

fn error(message: impl std::fmt::Display) -> Message {
    Message::text(json!({"type": "error", "message": message.to_string()}).to_string())
}

/// A signalling server running in the background.
#[derive(Debug)]
pub struct RunningSignalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningSignalServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Binds `listen` and serves in a background task.
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(
    listen: SocketAddr,
    config: SignalServerConfig,
) -> std::io::Result<RunningSignalServer> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, config));
    Ok(RunningSignalServer { addr, task })
}

async fn serve(listener: TcpListener, config: SignalServerConfig) {
    let rooms: Shared = Arc::default();
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(1).min(config.idle));
    // Aborting this task (shutdown) drops the connection tasks' handles only: abort them too.
    struct AbortAll<'a>(&'a mut Vec<JoinHandle<()>>);
    impl Drop for AbortAll<'_> {
        fn drop(&mut self) {
            for h in self.0.iter() {
                h.abort();
            }
        }
    }
    let guard = AbortAll(&mut connections);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    guard.0.retain(|h| !h.is_finished());
                    // Two peers per room, plus some not yet in a room.
                    if guard.0.len() >= config.max_rooms.saturating_mul(2).saturating_add(64) {
                        tracing::warn!(%from, "too many connections; closing");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    guard.0.push(tokio::spawn(connection(rooms.clone(), config, stream, from)));
                }
                Err(e) => {
                    tracing::debug!("accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = sweep.tick() => {
                let now = Instant::now();
                lock(&rooms).rooms.retain(|name, room| {
                    let keep = now.duration_since(room.last) < config.idle;
                    if !keep {
                        tracing::info!(room = %name, "idle room closed");
                    }
                    keep
                });
            }
        }
    }
}

fn valid_room(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ROOM_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

async fn connection(
    rooms: Shared,
    config: SignalServerConfig,
    stream: TcpStream,
    from: SocketAddr,
) {
    let mut path = String::new();
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    // The callback's error type is tungstenite's, not ours.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config));
    let ws = match tokio::time::timeout(Duration::from_secs(10), handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(%from, "handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%from, "handshake timed out");
            return;
        }
    };
    let (mut sink, mut frames) = ws.split();
    let name = path.trim_start_matches('/').to_owned();
    if !valid_room(&name) {
        let msg = error(format_args!(
            "bad room {path:?}: connect to ws://HOST:PORT/ROOM, ROOM of 1 to {MAX_ROOM_NAME} letters, digits, '-', '_', '.' or '~'"
        ));
        let _ = sink.send(msg).await;
        let _ = sink.close().await;
        return;
    }
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let (id, peers) = {
        let mut r = lock(&rooms);
        let id = r.next_id;
        r.next_id += 1;
        let full = r.rooms.len() >= config.max_rooms && !r.rooms.contains_key(&name);
        let room = if full {
            None
        } else {
            Some(r.rooms.entry(name.clone()).or_insert_with(|| Room {
                peers: Vec::new(),
                pending: VecDeque::new(),
                last: Instant::now(),
            }))
        };
        match room {
            None => (id, Err("too many rooms open; try again later")),
            Some(room) if room.peers.len() >= 2 => (id, Err("this room already has two peers")),
            Some(room) => {
                room.peers.push((id, tx.clone()));
                room.last = Instant::now();
                let joined = json!({"type": "joined", "room": name, "peers": room.peers.len()});
                let _ = tx.try_send(Message::text(joined.to_string()));
                while let Some(m) = room.pending.pop_front() {
                    let _ = tx.try_send(m);
                }
                (id, Ok(room.peers.len()))
            }
        }
    };
    let peers = match peers {
        Ok(n) => n,
        Err(e) => {
            let _ = sink.send(error(e)).await;
            let _ = sink.close().await;
            return;
        }
    };
    tracing::info!(%from, room = %name, peers, "joined");
    drop(tx);
    let mut tokens = config.burst;
    let mut refilled = Instant::now();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => if sink.send(m).await.is_err() { break },
                // The room was closed (idle) or the server is stopping.
                None => {
                    let _ = sink.send(error("room closed")).await;
                    break;
                }
            },
            frame = frames.next() => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        tracing::debug!(%from, "closing: {e}");
                        let msg = error(format_args!("closing: {e}"));
                        let _ = sink.send(msg).await;
                        break;
                    }
                    None => break,
                };
                let reply = match frame {
                    Message::Text(text) => {
                        let now = Instant::now();
                        tokens = (tokens + now.duration_since(refilled).as_secs_f64() * config.rate).min(config.burst);
                        refilled = now;
                        if tokens < 1.0 {
                            Some(error("rate limit: message dropped"))
                        } else {
                            tokens -= 1.0;
                            relay(&rooms, &name, id, text.as_str())
                        }
                    }
                    Message::Binary(b) => Some(error(format_args!(
                        "binary frame of {} bytes ignored: send JSON text frames", b.len()
                    ))),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
                };
                if let Some(r) = reply
                    && sink.send(r).await.is_err()
                {
                    break;
                }
            }
        }
    }
    let mut r = lock(&rooms);
    if let Some(room) = r.rooms.get_mut(&name) {
        room.peers.retain(|(p, _)| *p != id);
        for (_, other) in &room.peers {
            let _ = other.try_send(Message::text(r#"{"type":"left"}"#));
        }
        if room.peers.is_empty() {
            r.rooms.remove(&name);
        }
    }
    tracing::info!(%from, room = %name, "left");
}

/// Relays one text message to the other peer of the room; the error to send back, if any.
fn relay(rooms: &Shared, name: &str, id: u64, text: &str) -> Option<Message> {
    if text.len() > MAX_MESSAGE {
        return Some(error(format_args!(
            "message of {} bytes is over the limit of {MAX_MESSAGE} bytes; dropped",
            text.len()
        )));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => {}
        Ok(_) => return Some(error("not a JSON object; dropped")),
        Err(e) => return Some(error(format_args!("not JSON ({e}); dropped"))),
    }
    let mut r = lock(rooms);
    let room = r.rooms.get_mut(name)?;
    room.last = Instant::now();
    let msg = Message::text(text.to_owned());
    match room.peers.iter().find(|(p, _)| *p != id) {
        Some((_, other)) => other
            .try_send(msg)
            .err()
            .map(|_| error("the other peer is not reading; dropped")),
        None if room.pending.len() < MAX_PENDING => {
            room.pending.push_back(msg);
            None
        }
        None => Some(error(
            "too many messages waiting for the other peer; dropped",
        )),
    }
}

/// Runs `icebreaker signal-server` until Ctrl-C or SIGTERM; returns the exit status.
pub async fn run(args: SignalServerArgs) -> u8 {
    let stop = match crate::cli::shutdown_signal() {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format_args!("cannot watch for Ctrl-C/SIGTERM: {e}"),
            );
        }
    };
    let config = SignalServerConfig {
        max_rooms: args.max_rooms.max(1),
        idle: Duration::from_secs(args.idle.max(1)),
        ..SignalServerConfig::default()
    };
    let server = match start(args.listen, config).await {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format_args!("cannot listen on {}: {e}", args.listen),
            );
        }
    };
    emit(&format!("listening on {}\n", server.local_addr()));
    stop.await;
    tracing::info!("shutting down");
    server.shutdown();
    EXIT_OK
}
