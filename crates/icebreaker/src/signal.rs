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
//! a per-connection token bucket ([`SignalServerConfig::rate`]) that counts every data frame,
//! at most [`SignalServerConfig::max_rooms`] rooms, two peers per room, at most
//! [`MAX_PENDING`] messages and [`MAX_PENDING_BYTES`] bytes waiting in a room for its second
//! peer, and at most [`SignalServerConfig::max_buffered`] bytes of messages held by the whole
//! server (waiting in rooms or queued towards slow readers). Rooms with no traffic for
//! [`SignalServerConfig::idle`] are closed.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
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
const MAX_FRAME: usize = 2 * MAX_MESSAGE;
/// Messages kept in a room for a peer that has not joined yet (an offer and its trickled
/// candidates).
pub const MAX_PENDING: usize = 64;
/// Bytes of messages kept in a room for a peer that has not joined yet: one message of the
/// largest size, or an offer and dozens of candidates. With the default room count, all rooms
/// together hold at most half the default [`SignalServerConfig::max_buffered`], so peers that
/// wait alone cannot starve the relaying between peers that are both there.
pub const MAX_PENDING_BYTES: usize = MAX_MESSAGE;
/// Frames queued towards one connection: a room's pending messages, the joined notice, and
/// the left notice (one slot always stays free for it).
const QUEUE: usize = MAX_PENDING + 16;
/// Message types the server itself sends: a peer may not send them through a room.
const RESERVED_TYPES: [&str; 3] = ["error", "joined", "left"];
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
    /// MiB of messages the server holds at most, for peers not yet in their room or reading
    /// slowly; messages beyond are refused with an error.
    #[arg(long, value_name = "MIB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_buffered_mib: u64,
    /// Print JSON lines instead of text: `{"type":"listening","address":"..."}` once bound,
    /// and `{"type":"stopped"}` on SIGINT or SIGTERM.
    #[arg(long)]
    pub json: bool,
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
    /// Bytes of messages the whole server holds at most: waiting in rooms for a second peer
    /// and queued towards peers that read slowly. A message over it is refused with an error.
    pub max_buffered: usize,
    /// A peer that has not taken a message within this long is not reading: it is dropped.
    pub send_timeout: Duration,
}

impl Default for SignalServerConfig {
    fn default() -> Self {
        Self {
            max_rooms: 1024,
            idle: Duration::from_secs(600),
            rate: 50.0,
            burst: 200.0,
            max_buffered: 128 * 1024 * 1024,
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// A message the server holds for a peer. Its bytes count against the server's
/// [`SignalServerConfig::max_buffered`] until it is sent or dropped.
#[derive(Debug)]
struct Held {
    msg: Message,
    bytes: usize,
    /// The budget the bytes were taken from; `None` for the server's own notices.
    used: Option<Arc<AtomicUsize>>,
}

impl Held {
    /// Takes `bytes` from the budget for `msg`; `None` when the server holds too much already.
    fn counted(used: &Arc<AtomicUsize>, limit: usize, msg: Message) -> Option<Self> {
        let bytes = msg.len();
        used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
            u.checked_add(bytes).filter(|total| *total <= limit)
        })
        .ok()?;
        Some(Self {
            msg,
            bytes,
            used: Some(used.clone()),
        })
    }

    /// The server's own short notices (joined, left), bounded by the queue's length instead.
    fn notice(msg: Message) -> Self {
        Self {
            msg,
            bytes: 0,
            used: None,
        }
    }

    fn into_message(mut self) -> Message {
        core::mem::replace(&mut self.msg, Message::text(""))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(used) = &self.used {
            used.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
struct Room {
    peers: Vec<(u64, mpsc::Sender<Held>)>,
    /// Messages sent while alone, for the next peer.
    pending: VecDeque<Held>,
    last: Instant,
}

#[derive(Debug, Default)]
struct Rooms {
    rooms: HashMap<String, Room>,
    next_id: u64,
    /// Bytes of every [`Held`] message.
    used: Arc<AtomicUsize>,
}

type Shared = Arc<Mutex<Rooms>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Rooms> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends `msg`, giving up when the peer has not taken it within `limit`
/// ([`SignalServerConfig::send_timeout`]): every write to a peer is bounded so, or one that
/// stops reading would hold its task (and the messages queued for it) for ever. Returns
/// whether it was sent.
async fn send_within<S>(sink: &mut S, msg: Message, limit: Duration) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    matches!(
        tokio::time::timeout(limit, sink.send(msg)).await,
        Ok(Ok(()))
    )
}

/// Sends a last message and closes, each bounded by `limit`.
async fn farewell<S>(sink: &mut S, msg: Message, limit: Duration)
where
    S: futures_util::Sink<Message> + Unpin,
{
    if send_within(sink, msg, limit).await {
        let _ = tokio::time::timeout(limit, sink.close()).await;
    }
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
    let period = Duration::from_secs(1).min(config.idle);
    let mut sweep = tokio::time::interval(period.max(Duration::from_millis(10)));
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
    let mut full = crate::refusals::Refusals::new("too many connections");
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    guard.0.retain(|h| !h.is_finished());
                    // Two peers per room, plus some not yet in a room.
                    if guard.0.len() >= config.max_rooms.saturating_mul(2).saturating_add(64) {
                        full.refused(std::time::Instant::now(), from);
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
        farewell(&mut sink, msg, config.send_timeout).await;
        return;
    }
    let (tx, mut rx) = mpsc::channel::<Held>(QUEUE);
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
                let _ = tx.try_send(Held::notice(Message::text(joined.to_string())));
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
            farewell(&mut sink, error(e), config.send_timeout).await;
            return;
        }
    };
    tracing::info!(%from, room = %name, peers, "joined");
    drop(tx);
    let mut tokens = config.burst;
    let mut refilled = Instant::now();
    let limit = config.send_timeout;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => {
                    if !send_within(&mut sink, m.into_message(), limit).await {
                        tracing::debug!(%from, "not reading or gone; closing");
                        break;
                    }
                }
                // The room was closed (idle) or the server is stopping.
                None => {
                    send_within(&mut sink, error("room closed"), limit).await;
                    break;
                }
            },
            frame = frames.next() => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        tracing::debug!(%from, "closing: {e}");
                        let msg = error(format_args!("closing: {e}"));
                        send_within(&mut sink, msg, limit).await;
                        break;
                    }
                    None => break,
                };
                // Every data frame, text or binary, spends a token.
                if matches!(frame, Message::Text(_) | Message::Binary(_)) {
                    let now = Instant::now();
                    let earned = now.duration_since(refilled).as_secs_f64() * config.rate;
                    tokens = (tokens + earned).min(config.burst);
                    refilled = now;
                    if tokens < 1.0 {
                        if !send_within(&mut sink, error("rate limit: message dropped"), limit).await {
                            break;
                        }
                        continue;
                    }
                    tokens -= 1.0;
                }
                let reply = match frame {
                    Message::Text(text) => relay(&rooms, &name, id, text.as_str(), config.max_buffered),
                    Message::Binary(b) => Some(error(format_args!(
                        "binary frame of {} bytes ignored: send JSON text frames", b.len()
                    ))),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
                };
                if let Some(r) = reply
                    && !send_within(&mut sink, r, limit).await
                {
                    tracing::debug!(%from, "not reading or gone; closing");
                    break;
                }
            }
        }
    }
    let mut r = lock(&rooms);
    if let Some(room) = r.rooms.get_mut(&name) {
        let before = room.peers.len();
        room.peers.retain(|(p, _)| *p != id);
        // Not in this room any more (it was closed, and another of the same name opened).
        let was_here = room.peers.len() < before;
        for (_, other) in room.peers.iter().filter(|_| was_here) {
            let left = Held::notice(Message::text(r#"{"type":"left"}"#));
            let _ = other.try_send(left);
        }
        if room.peers.is_empty() {
            r.rooms.remove(&name);
        }
    }
    tracing::info!(%from, room = %name, "left");
}

/// Relays one text message to the other peer of the room; the error to send back, if any.
fn relay(rooms: &Shared, name: &str, id: u64, text: &str, max_buffered: usize) -> Option<Message> {
    if text.len() > MAX_MESSAGE {
        return Some(error(format_args!(
            "message of {} bytes is over the limit of {MAX_MESSAGE} bytes; dropped",
            text.len()
        )));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if RESERVED_TYPES.iter().any(|t| v["type"] == *t) => {
            return Some(error(format_args!(
                "type {} is the server's own; dropped",
                v["type"]
            )));
        }
        Ok(v) if v.is_object() => {}
        Ok(_) => return Some(error("not a JSON object; dropped")),
        Err(e) => return Some(error(format_args!("not JSON ({e}); dropped"))),
    }
    let mut r = lock(rooms);
    let used = r.used.clone();
    let room = r.rooms.get_mut(name)?;
    room.last = Instant::now();
    let other = room.peers.iter().find(|(p, _)| *p != id);
    if other.is_none()
        && (room.pending.len() >= MAX_PENDING
            || room.pending.iter().map(|m| m.bytes).sum::<usize>() + text.len() > MAX_PENDING_BYTES)
    {
        return Some(error(format_args!(
            "too many messages waiting for the other peer (at most {MAX_PENDING}, \
             {MAX_PENDING_BYTES} bytes); dropped"
        )));
    }
    let Some(msg) = Held::counted(&used, max_buffered, Message::text(text.to_owned())) else {
        return Some(error(
            "the server holds too many messages; dropped, try again later",
        ));
    };
    match other {
        // The last slot is kept for the left notice.
        Some((_, other)) if other.capacity() <= 1 => {
            Some(error("the other peer is not reading; dropped"))
        }
        Some((_, other)) => other
            .try_send(msg)
            .err()
            .map(|_| error("the other peer is not reading; dropped")),
        None => {
            room.pending.push_back(msg);
            None
        }
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
        max_buffered: usize::try_from(args.max_buffered_mib << 20).unwrap_or(usize::MAX),
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
    if args.json {
        crate::cli::json_line(&SignalServerLine::Listening {
            address: server.local_addr(),
        });
    } else {
        emit(&format!("listening on {}\n", server.local_addr()));
    }
    stop.await;
    tracing::info!("shutting down");
    server.shutdown();
    if args.json {
        crate::cli::json_line(&SignalServerLine::Stopped);
    }
    EXIT_OK
}

/// What `signal-server --json` prints.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SignalServerLine {
    /// Bound and accepting WebSocket connections.
    Listening { address: SocketAddr },
    /// Stopped by a signal.
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

    type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
    const LIMIT: Duration = Duration::from_secs(10);

    async fn join(server: &RunningSignalServer, room: &str) -> Ws {
        let url = format!("ws://{}/{room}", server.local_addr());
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect");
        let joined = next_text(&mut ws).await;
        assert!(joined.contains(r#""type":"joined""#), "{joined}");
        ws
    }

    async fn next_text(ws: &mut Ws) -> String {
        loop {
            let m = tokio::time::timeout(LIMIT, ws.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("frame");
            if let Message::Text(t) = m {
                return t.as_str().to_owned();
            }
        }
    }

    /// A JSON message of `len` bytes whose data is `tag` repeated.
    fn message(tag: char, len: usize) -> String {
        let head = r#"{"type":"send","data":""#;
        let body = tag.to_string().repeat(len - head.len() - 2);
        format!(r#"{head}{body}"}}"#)
    }

    async fn send(ws: &mut Ws, text: &str) {
        ws.send(Message::text(text.to_owned())).await.expect("send");
    }

    /// Sends `text` and waits for the error the server answers with.
    async fn refused(ws: &mut Ws, text: &str, want: &str) {
        send(ws, text).await;
        let reply = next_text(ws).await;
        assert!(
            reply.contains(r#""type":"error""#) && reply.contains(want),
            "want {want:?}: {reply}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_room_keeps_a_bounded_number_of_messages_and_bytes_for_its_second_peer() {
        let server = start("127.0.0.1:0".parse().expect("addr"), Default::default())
            .await
            .expect("start");
        let mut a = join(&server, "count").await;
        for i in 0..MAX_PENDING {
            send(&mut a, &format!(r#"{{"type":"send","data":"{i}"}}"#)).await;
        }
        refused(
            &mut a,
            r#"{"type":"send","data":"one more"}"#,
            "too many messages",
        )
        .await;
        let mut b = join(&server, "count").await;
        for i in 0..MAX_PENDING {
            assert_eq!(
                next_text(&mut b).await,
                format!(r#"{{"type":"send","data":"{i}"}}"#)
            );
        }
        // Bytes: two messages of 30 000 bytes wait, a third would pass MAX_PENDING_BYTES.
        let mut c = join(&server, "bytes").await;
        for tag in ['a', 'b'] {
            send(&mut c, &message(tag, 30_000)).await;
        }
        refused(&mut c, &message('e', 30_000), "too many messages").await;
        let mut d = join(&server, "bytes").await;
        for tag in ['a', 'b'] {
            assert_eq!(next_text(&mut d).await, message(tag, 30_000));
        }
        // The server's own message types cannot be sent through a room.
        for forged in [r#"{"type":"left"}"#, r#"{"type":"error","message":"x"}"#] {
            refused(&mut d, forged, "the server's own").await;
        }
        server.shutdown();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_server_wide_budget_refuses_messages_until_they_are_delivered() {
        let config = SignalServerConfig {
            max_buffered: 100_000,
            ..SignalServerConfig::default()
        };
        let server = start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("start");
        let mut a = join(&server, "one").await;
        let mut b = join(&server, "two").await;
        send(&mut a, &message('a', 60_000)).await;
        // Room "two" is refused: room "one" holds most of the budget.
        refused(&mut b, &message('b', 60_000), "holds too many messages").await;
        // Delivering room one's message gives its bytes back.
        let mut a2 = join(&server, "one").await;
        assert_eq!(next_text(&mut a2).await, message('a', 60_000));
        send(&mut b, &message('b', 60_000)).await;
        let mut b2 = join(&server, "two").await;
        assert_eq!(next_text(&mut b2).await, message('b', 60_000));
        server.shutdown();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn binary_frames_spend_the_rate_limit_too() {
        let config = SignalServerConfig {
            rate: 0.001,
            burst: 2.0,
            ..SignalServerConfig::default()
        };
        let server = start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("start");
        let mut a = join(&server, "binary").await;
        for _ in 0..2 {
            a.send(Message::binary(vec![0u8; 10])).await.expect("send");
            let reply = next_text(&mut a).await;
            assert!(reply.contains("binary frame"), "{reply}");
        }
        a.send(Message::binary(vec![0u8; 10])).await.expect("send");
        let reply = next_text(&mut a).await;
        assert!(reply.contains("rate limit"), "{reply}");
        refused(&mut a, r#"{"type":"send","data":"x"}"#, "rate limit").await;
        server.shutdown();
    }

    /// A peer that sends without reading the server's replies (errors, rate-limit notices) is
    /// dropped once a reply has waited `send_timeout`: before, the reply's send blocked its task
    /// for ever, holding its slot and the messages queued for it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_peer_that_does_not_read_its_replies_is_dropped() {
        let config = SignalServerConfig {
            send_timeout: Duration::from_millis(300),
            ..SignalServerConfig::default()
        };
        let server = start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("start");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let tcp = socket.connect(server.local_addr()).await.expect("connect");
        let url = format!("ws://{}/deaf", server.local_addr());
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
            .await
            .expect("handshake");
        let (mut tx, mut rx) = ws.split();
        // Every frame draws a reply ("not JSON", then "rate limit"), and none is read: the
        // replies, 57 bytes each, fill the server's send buffer (at most 4 MiB by default on
        // Linux) whatever it has grown to. The flood goes on until the server gives up (a send
        // fails, or stalls because the server stopped reading), at most 20 s: a fixed number of
        // frames could all sit in socket buffers before the server had answered enough of them
        // to fill its own, and reading would then drain the replies as fast as they came.
        let flood = tokio::spawn(async move {
            let end = tokio::time::Instant::now() + Duration::from_secs(20);
            while tokio::time::Instant::now() < end {
                let sent = tokio::time::timeout(Duration::from_secs(1), tx.send(Message::text("")));
                if !matches!(sent.await, Ok(Ok(()))) {
                    break;
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(30), flood).await;
        // Reading now, the connection ends: the server gave up on it.
        let ended =
            tokio::time::timeout(LIMIT, async { while let Some(Ok(_)) = rx.next().await {} }).await;
        assert!(
            ended.is_ok(),
            "the server still serves a peer that stopped reading"
        );
        // And it still serves others.
        let mut a = join(&server, "after").await;
        refused(&mut a, "{", "not JSON").await;
        server.shutdown();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_zero_idle_time_closes_rooms_without_stopping_the_server() {
        let config = SignalServerConfig {
            idle: Duration::ZERO,
            ..SignalServerConfig::default()
        };
        let server = start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("start");
        let mut a = join(&server, "brief").await;
        let reply = next_text(&mut a).await;
        assert!(reply.contains("room closed"), "{reply}");
        // Still accepting.
        let _again = join(&server, "brief").await;
        server.shutdown();
    }
}
