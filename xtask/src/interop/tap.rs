//! A recording proxy between a TURN client and a TURN server, so that relayed payloads can be
//! compared byte for byte with what the peer on the far side of the relay received.
//!
//! The tap listens on one port for both UDP and TCP. Each UDP client address and each accepted
//! TCP connection gets its own upstream socket to the server, so the server sees one 5-tuple per
//! client as it would without the tap. Every byte is recorded in both directions (up to
//! [`RECORD_LIMIT`] in all). [`Tap::relayed`] then decodes the recording with icebreaker-stun:
//! the application data clients handed the relay (ChannelData, Send indications) and what the
//! relay delivered to them (ChannelData, Data indications). TLS cannot be read here, so the TLS
//! cases do not go through a tap.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::Data;
use icebreaker_stun::demux::{self, Protocol};
use icebreaker_stun::framing::{Frame, MAX_WIRE_FRAME, split_frame};
use icebreaker_stun::{ChannelData, Class, Message, Method};

use super::ECHO_LIFETIME;

/// Most bytes recorded between two [`Tap::take`]s, both directions together; past it the
/// recording is marked incomplete (and the comparison fails) rather than growing.
const RECORD_LIMIT: usize = 16 << 20;
/// Most client addresses (UDP) and connections (TCP) served at once.
const MAX_CLIENTS: usize = 256;
/// A UDP client silent this long is forgotten (uclient reruns come from fresh ports). uclient
/// itself may sit quiet for several seconds between allocating and sending.
const UDP_IDLE: Duration = Duration::from_secs(20);

/// One TCP connection's byte streams: client to server, and server to client.
type Streams = Arc<Mutex<(Vec<u8>, Vec<u8>)>>;

/// What flowed through the tap since the last [`Tap::take`].
#[derive(Default)]
struct Recording {
    /// UDP datagrams, client to server.
    udp_up: Vec<Vec<u8>>,
    /// UDP datagrams, server to client.
    udp_down: Vec<Vec<u8>>,
    /// Per TCP connection, its streams.
    tcp: Vec<Streams>,
    /// Bytes recorded since the last [`Tap::take`].
    bytes: usize,
    /// Whether something was not recorded (the limit, or too many clients).
    incomplete: bool,
    /// Set by [`Tap::take`]: the UDP clients seen so far are done, forget them.
    forget: bool,
}

type Shared = Arc<Mutex<Recording>>;

/// The payloads a tap saw relayed, in the order seen.
pub(super) struct Relayed {
    /// Application data clients gave the server to relay.
    pub(super) sent: Vec<Vec<u8>>,
    /// Application data the server delivered to clients.
    pub(super) delivered: Vec<Vec<u8>>,
}

/// A recording UDP and TCP proxy on loopback, in front of one TURN server.
pub(super) struct Tap {
    /// Where clients send (UDP) and connect (TCP) instead of the server.
    pub(super) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    recording: Shared,
    thread: Option<JoinHandle<()>>,
}

impl Tap {
    /// Starts a tap in front of the server at `server` (UDP and TCP on the same port).
    pub(super) fn start(server: SocketAddr) -> Result<Self, String> {
        let (udp, tcp) = bind_pair(server)?;
        let addr = udp.local_addr().map_err(|e| e.to_string())?;
        udp.set_nonblocking(true).map_err(|e| e.to_string())?;
        tcp.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let recording = Shared::default();
        let (s, r) = (stop.clone(), recording.clone());
        let thread = thread::spawn(move || serve(&udp, &tcp, server, &s, &r));
        Ok(Self {
            addr,
            stop,
            recording,
            thread: Some(thread),
        })
    }

    /// Forgets what was recorded so far.
    pub(super) fn take(&self) {
        if let Ok(mut g) = self.recording.lock() {
            *g = Recording {
                forget: true,
                ..Recording::default()
            };
        }
    }

    /// Decodes the recording into the payloads relayed each way. Errors when the recording is
    /// incomplete or holds bytes that are neither STUN nor ChannelData.
    pub(super) fn relayed(&self) -> Result<Relayed, String> {
        let g = self
            .recording
            .lock()
            .map_err(|_| "the tap's recording is poisoned".to_string())?;
        if g.incomplete {
            return Err(format!(
                "the tap stopped recording (over {RECORD_LIMIT} bytes or {MAX_CLIENTS} clients at once)"
            ));
        }
        let mut relayed = Relayed {
            sent: Vec::new(),
            delivered: Vec::new(),
        };
        for d in &g.udp_up {
            relayed.sent.extend(datagram_payload(d, Method::SEND)?);
        }
        for d in &g.udp_down {
            relayed.delivered.extend(datagram_payload(d, Method::DATA)?);
        }
        for conn in &g.tcp {
            let c = conn
                .lock()
                .map_err(|_| "a TCP recording is poisoned".to_string())?;
            stream_payloads(&c.0, Method::SEND, &mut relayed.sent)?;
            stream_payloads(&c.1, Method::DATA, &mut relayed.delivered)?;
        }
        Ok(relayed)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
fn bind_pair(server: SocketAddr) -> Result<(UdpSocket, TcpListener), String> {
    let any = SocketAddr::new(server.ip(), 0);
    let mut last = String::new();
    for _ in 0..20 {
        let udp = UdpSocket::bind(any).map_err(|e| e.to_string())?;
        let port = udp.local_addr().map_err(|e| e.to_string())?.port();
        match TcpListener::bind(SocketAddr::new(server.ip(), port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("no port free for both UDP and TCP: {last}"))
}

/// Whether `r` may record `n` more bytes; marks it incomplete when not.
fn room(r: &Shared, n: usize) -> bool {
    let Ok(mut g) = r.lock() else { return false };
    if g.bytes + n > RECORD_LIMIT {
        g.incomplete = true;
        return false;
    }
    g.bytes += n;
    true
}

/// The tap's loop: UDP both ways and TCP accepts, until stopped or [`ECHO_LIFETIME`] is up.
fn serve(udp: &UdpSocket, tcp: &TcpListener, server: SocketAddr, stop: &AtomicBool, r: &Shared) {
    let stop_flag = Arc::new(AtomicBool::new(false));
    let end = Instant::now() + ECHO_LIFETIME;
    // Per UDP client: the socket that speaks for it to the server, and when it was last heard.
    let mut upstream: HashMap<SocketAddr, (UdpSocket, Instant)> = HashMap::new();
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let mut busy = false;
        let now = Instant::now();
        if let Ok(mut g) = r.lock()
            && std::mem::take(&mut g.forget)
        {
            upstream.clear();
        }
        upstream.retain(|_, (_, heard)| now.duration_since(*heard) < UDP_IDLE);
        conns.retain(|c| !c.is_finished());
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            busy = true;
            if let Some((_, heard)) = upstream.get_mut(&from) {
                *heard = now;
            } else {
                let Some(up) = (upstream.len() < MAX_CLIENTS)
                    .then(|| connected_udp(server))
                    .flatten()
                else {
                    mark_incomplete(r);
                    continue;
                };
                upstream.insert(from, (up, now));
            }
            if let Some((up, _)) = upstream.get(&from) {
                // Recorded before it is forwarded, so that whatever answers it finds it there.
                if room(r, n)
                    && let Ok(mut g) = r.lock()
                {
                    g.udp_up.push(buf[..n].to_vec());
                }
                let _ = up.send(&buf[..n]);
            }
        }
        for (client, (up, _)) in &upstream {
            while let Ok(n) = up.recv(&mut buf) {
                busy = true;
                if room(r, n)
                    && let Ok(mut g) = r.lock()
                {
                    g.udp_down.push(buf[..n].to_vec());
                }
                let _ = udp.send_to(&buf[..n], client);
            }
        }
        if let Ok((client, _)) = tcp.accept() {
            busy = true;
            if conns.len() >= 2 * MAX_CLIENTS {
                mark_incomplete(r);
            } else if let Some(handles) = splice(client, server, &stop_flag, r) {
                conns.extend(handles);
            }
        }
        if !busy {
            thread::sleep(Duration::from_millis(1));
        }
    }
    stop_flag.store(true, Ordering::Relaxed);
    for c in conns {
        let _ = c.join();
    }
}

fn mark_incomplete(r: &Shared) {
    if let Ok(mut g) = r.lock() {
        g.incomplete = true;
    }
}

/// A nonblocking UDP socket on the server's loopback address family, connected to the server.
fn connected_udp(server: SocketAddr) -> Option<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(server.ip(), 0)).ok()?;
    s.connect(server).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// Connects an accepted client to the server and copies both ways on two threads, recording.
fn splice(
    client: TcpStream,
    server: SocketAddr,
    stop: &Arc<AtomicBool>,
    r: &Shared,
) -> Option<[JoinHandle<()>; 2]> {
    client.set_nonblocking(false).ok()?;
    let up = TcpStream::connect_timeout(&server, Duration::from_secs(2)).ok()?;
    let conn = Streams::default();
    r.lock().ok()?.tcp.push(conn.clone());
    let (c2, u2) = (client.try_clone().ok()?, up.try_clone().ok()?);
    let (s1, s2) = (stop.clone(), stop.clone());
    let (r1, r2) = (r.clone(), r.clone());
    let conn2 = conn.clone();
    let a = thread::spawn(move || copy(client, up, &s1, &r1, &conn, true));
    let b = thread::spawn(move || copy(u2, c2, &s2, &r2, &conn2, false));
    Some([a, b])
}

/// Copies `from` to `to` until either closes or `stop`, appending what passed to the upstream
/// (`up`) or downstream half of `conn`.
fn copy(
    mut from: TcpStream,
    mut to: TcpStream,
    stop: &AtomicBool,
    r: &Shared,
    conn: &Mutex<(Vec<u8>, Vec<u8>)>,
    up: bool,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    // A side that stops reading must not hold this thread (and the tap's drop) forever.
    let _ = to.set_write_timeout(Some(Duration::from_secs(2)));
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if room(r, n)
                    && let Ok(mut c) = conn.lock()
                {
                    let half = if up { &mut c.0 } else { &mut c.1 };
                    half.extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The payload of one datagram, when it carries relayed data: a ChannelData message, or an
/// indication of `method` (Send going up, Data coming down) with a DATA attribute.
fn datagram_payload(d: &[u8], method: Method) -> Result<Option<Vec<u8>>, String> {
    match demux::classify(d) {
        Protocol::ChannelData => ChannelData::parse(d)
            .map(|c| Some(c.data().to_vec()))
            .map_err(|e| format!("a ChannelData datagram does not parse: {e}")),
        Protocol::Stun => stun_payload(d, method),
        _ => Err(format!(
            "a {}-byte datagram is neither STUN nor ChannelData",
            d.len()
        )),
    }
}

fn stun_payload(m: &[u8], method: Method) -> Result<Option<Vec<u8>>, String> {
    let msg = Message::parse(m).map_err(|e| format!("a STUN message does not parse: {e}"))?;
    if msg.class() != Class::Indication || msg.method() != method {
        return Ok(None);
    }
    match msg.get::<Data<'_>>() {
        Ok(Some(Data(data))) => Ok(Some(data.to_vec())),
        Ok(None) => Err(format!("a {method:?} indication without DATA")),
        Err(e) => Err(format!("a {method:?} indication's DATA: {e}")),
    }
}

/// The payloads in one direction of a TCP connection, split into frames as RFC 8656 §12.5
/// frames a stream.
fn stream_payloads(mut s: &[u8], method: Method, out: &mut Vec<Vec<u8>>) -> Result<(), String> {
    while !s.is_empty() {
        match split_frame(s, MAX_WIRE_FRAME) {
            Ok(Some((frame, used))) => {
                match frame {
                    Frame::ChannelData { data, .. } => out.push(data.to_vec()),
                    Frame::Stun(m) => out.extend(stun_payload(m, method)?),
                }
                s = &s[used..];
            }
            Ok(None) => {
                return Err(format!(
                    "a TCP stream ends in a partial frame of {} bytes",
                    s.len()
                ));
            }
            Err(e) => return Err(format!("a TCP stream lost framing: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use icebreaker_stun::{MessageWriter, TransactionId};

    fn indication(method: Method, data: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let tid = TransactionId::new([7; 12]);
        let mut w = MessageWriter::new(&mut buf, Class::Indication, method, tid).unwrap();
        w.push(&Data(data)).unwrap();
        let n = w.finish(false).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn payloads_come_out_of_channel_data_and_indications() {
        let send = indication(Method::SEND, b"abc");
        assert_eq!(
            datagram_payload(&send, Method::SEND),
            Ok(Some(b"abc".to_vec()))
        );
        // A Send indication coming down is not a delivery.
        assert_eq!(datagram_payload(&send, Method::DATA), Ok(None));
        assert_eq!(
            datagram_payload(&[0x40, 0x00, 0x00, 0x02, b'h', b'i'], Method::DATA),
            Ok(Some(b"hi".to_vec()))
        );
        assert!(datagram_payload(&[0xff, 0], Method::SEND).is_err());

        // On a stream, ChannelData is padded to 4 bytes between frames.
        let mut stream = vec![0x40, 0x01, 0x00, 0x01, b'x', 0, 0, 0];
        stream.extend(indication(Method::SEND, b"yz"));
        let mut out = Vec::new();
        stream_payloads(&stream, Method::SEND, &mut out).unwrap();
        assert_eq!(out, [b"x".to_vec(), b"yz".to_vec()]);
        assert!(stream_payloads(&stream[..6], Method::SEND, &mut out).is_err());
    }

    #[test]
    fn a_tap_records_udp_and_tcp_both_ways() {
        let server_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = server_udp.local_addr().unwrap();
        let server_tcp = TcpListener::bind(server).unwrap();
        let tap = Tap::start(server).unwrap();
        let timeout = Some(Duration::from_secs(5));

        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(timeout).unwrap();
        server_udp.set_read_timeout(timeout).unwrap();
        client
            .send_to(&indication(Method::SEND, b"up"), tap.addr)
            .unwrap();
        let mut buf = [0u8; 512];
        let (n, via) = server_udp.recv_from(&mut buf).unwrap();
        assert_ne!(via, client.local_addr().unwrap());
        server_udp
            .send_to(&indication(Method::DATA, b"down"), via)
            .unwrap();
        let (m, from) = client.recv_from(&mut buf[n..]).unwrap();
        assert_eq!(
            (m, from),
            (indication(Method::DATA, b"down").len(), tap.addr)
        );

        let mut c = TcpStream::connect(tap.addr).unwrap();
        c.set_read_timeout(timeout).unwrap();
        c.write_all(&[0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]).unwrap();
        let (mut s, _) = server_tcp.accept().unwrap();
        s.set_read_timeout(timeout).unwrap();
        let mut frame = [0u8; 8];
        s.read_exact(&mut frame).unwrap();
        s.write_all(&[0x40, 0x00, 0x00, 0x01, 9, 0, 0, 0]).unwrap();
        c.read_exact(&mut frame).unwrap();
        drop((c, s));

        // The tap records each datagram and read before forwarding it: all is there by now.
        let relayed = tap.relayed().unwrap();
        assert_eq!(relayed.sent, [b"up".to_vec(), vec![1, 2, 3]]);
        assert_eq!(relayed.delivered, [b"down".to_vec(), vec![9]]);
        tap.take();
        assert!(tap.relayed().unwrap().sent.is_empty());
    }
}
