//! `loadgen`: the batched UDP load generator behind `cargo xtask bench --peers`.
//!
//! It measures any STUN or TURN server on loopback the same way, so that icebreaker and coturn
//! are compared with one yardstick:
//!
//! ```text
//! loadgen stun --server ADDR [--pid PID] [--secs S] [--clients N] [--window W] [--gso]
//! loadgen turn --server ADDR --user U:P [--pid PID] [--secs S] [--allocations N] [--size B] [--window W]
//! loadgen reflect --listen ADDR [--secs S]
//! ```
//!
//! - `stun`: N client sockets each keep W Binding requests in flight (closed loop: an answer
//!   lets the next request go), and every valid Binding success answer is counted. With
//!   `--gso`, each client sends its requests as one UDP GSO message, which costs the generator
//!   far less per request: enough to keep a fast server saturated on a 2-CPU machine (the
//!   server still receives one datagram per request).
//! - `turn`: N allocations made with long-term credentials (the 401 challenge, then an
//!   authenticated Allocate), each with a channel bound to a peer socket this program owns.
//!   Each client keeps W ChannelData messages of B payload bytes in flight; the peer echoes
//!   every datagram back to the relayed address, the server frames it as ChannelData to the
//!   client, and both legs are counted as relayed packets.
//! - `reflect`: not a load but a yardstick, the least a STUN server can cost per answer on this
//!   machine. It answers every Binding request with a 32-byte success response carrying only
//!   XOR-MAPPED-ADDRESS (what icebreaker's `stun-server` sends, written with the same
//!   `MessageWriter`), batched the way `stun-server`
//!   is (one blocking `recvmmsg` of up to 32 datagrams with `MSG_WAITFORONE`, one `sendmmsg`
//!   of the answers), and checks nothing but the header: no attributes parsed, no counters. Its
//!   answers per CPU-second are the kernel's price of one datagram in and one out; a server's
//!   share of that is how close it runs to the floor. It stops after `--secs` (default 600, at
//!   most 3600) or when killed.
//!
//! All sockets are non-blocking and driven from one thread with `poll(2)`, `recvmmsg(2)` and
//! `sendmmsg(2)` (nix's safe wrappers), so the generator costs far fewer system calls per packet
//! than a server that handles one datagram per call. With `--pid`, the server's CPU time
//! (utime + stime from `/proc/PID/stat`) is read at the start and at the end of the measured
//! window. After a warm-up of a quarter of a second, the window lasts `--secs` seconds (at most
//! 60). The result is one line of `key=value` pairs on stdout.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::{
    ChannelNumber, ErrorCode, Lifetime, Nonce, PasswordAlgorithmId, Realm, RequestedTransport,
    Software, Username, XorMappedAddress, XorPeerAddress, XorRelayedAddress,
};
use icebreaker_stun::integrity::{Key, Preparation};
use icebreaker_stun::{
    Class, Integrity, MAGIC_COOKIE, Message, MessageWriter, Method, TransactionId,
};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg, sendmsg,
    setsockopt, sockopt,
};

/// Datagrams per `recvmmsg`/`sendmmsg` call.
const BATCH: usize = 64;
/// Receive buffer per datagram: larger than anything the generator sends or expects back.
const SLOT: usize = 2048;
/// Longest datagram sent with GSO (a Binding request is 20 bytes).
const SMALL: usize = 64;
/// Kernel socket buffer asked for on every socket.
const SOCKET_BUFFER: usize = 1 << 20;
/// Marks every transaction id and payload this program sends.
const MARK: [u8; 4] = *b"LDGN";
/// SOFTWARE of the first, unauthenticated Allocate (see `allocate`).
const SOFTWARE: &str = "icebreaker loadgen: a benchmark load generator (cargo xtask bench --peers), padded to be answered";
/// The longest measured window.
const MAX_SECS: f64 = 60.0;
/// Warm-up before the measured window.
const WARMUP: Duration = Duration::from_millis(250);
/// A client that has heard nothing back for this long assumes its window was lost.
const STALL: Duration = Duration::from_millis(50);

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Command-line options, parsed by hand (no dependency for a dozen flags).
struct Options {
    mode: String,
    server: SocketAddr,
    pid: Option<u32>,
    secs: f64,
    clients: usize,
    window: usize,
    size: usize,
    user: Option<(String, String)>,
    gso: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let usage = "usage: loadgen stun|turn --server ADDR [--pid PID] [--secs S] [--clients N | --allocations N] [--window W] [--size B] [--user U:P] [--gso]";
    let mode = args.first().cloned().ok_or(usage)?;
    if mode != "stun" && mode != "turn" {
        return Err(usage.to_string());
    }
    let mut o = Options {
        mode,
        server: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3478),
        pid: None,
        secs: 5.0,
        clients: 8,
        window: 64,
        size: 100,
        user: None,
        gso: false,
    };
    let mut server = None;
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        if flag == "--gso" {
            o.gso = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag}: {value:?} is not {what}");
        match flag.as_str() {
            "--server" => server = Some(value.parse().map_err(|_| bad("an address"))?),
            "--pid" => o.pid = Some(value.parse().map_err(|_| bad("a process id"))?),
            "--secs" => {
                o.secs = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.1..=MAX_SECS).contains(s))
                    .ok_or_else(|| bad("a number of seconds in 0.1..=60"))?;
            }
            "--clients" | "--allocations" => {
                o.clients = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| bad("a count in 1..=256"))?;
            }
            "--window" => {
                o.window = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or_else(|| bad("a count in 1..=4096"))?;
            }
            "--size" => {
                o.size = value
                    .parse()
                    .ok()
                    .filter(|n| (8..=1400).contains(n))
                    .ok_or_else(|| bad("a payload size in 8..=1400"))?;
            }
            "--user" => {
                let (u, p) = value.split_once(':').ok_or_else(|| bad("U:P"))?;
                o.user = Some((u.to_string(), p.to_string()));
            }
            _ => return Err(format!("unknown option {flag}; {usage}")),
        }
    }
    o.server = server.ok_or("--server is required")?;
    if o.gso && o.mode != "stun" {
        return Err("--gso applies to stun only".into());
    }
    if !o.server.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", o.server));
    }
    Ok(o)
}

fn run(args: &[String]) -> Result<String> {
    if args.first().map(String::as_str) == Some("reflect") {
        return reflect(&args[1..]);
    }
    let o = parse(args)?;
    match o.mode.as_str() {
        "stun" => stun(&o),
        _ => turn(&o),
    }
}

// ---------------------------------------------------------------------------------------------
// Batched socket I/O

/// Preallocated headers and buffers for one socket's batches: nothing is allocated per packet.
struct Batch {
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    bufs: Vec<[u8; SLOT]>,
    lens: Vec<usize>,
    /// Equal-length datagrams laid end to end for one UDP GSO send.
    flat: Vec<u8>,
    /// Send small datagrams with GSO; turned off when the kernel refuses it.
    gso: bool,
}

impl Batch {
    /// Buffers for one socket's batches; `gso`: send small datagrams as UDP GSO messages.
    fn new(gso: bool) -> Self {
        Self {
            recv_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            bufs: vec![[0; SLOT]; BATCH],
            lens: vec![0; BATCH],
            flat: vec![0; BATCH * SMALL],
            gso,
        }
    }

    /// Receives up to [`BATCH`] datagrams into `bufs`; returns how many (0 when none waits).
    fn recv(&mut self, sock: &UdpSocket) -> Result<usize> {
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
        for (iov, buf) in iovs.iter_mut().zip(self.bufs.iter_mut()) {
            *iov = [IoSliceMut::new(buf)];
        }
        let got = match recvmmsg(
            sock.as_fd().as_raw_fd(),
            &mut self.recv_headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(results) => {
                let mut n = 0;
                for (r, len) in results.zip(self.lens.iter_mut()) {
                    *len = r.bytes;
                    n += 1;
                }
                n
            }
            Err(nix::errno::Errno::EAGAIN) => 0,
            // ECONNREFUSED: an ICMP port unreachable from an earlier send (server not up yet).
            Err(nix::errno::Errno::ECONNREFUSED) => 0,
            Err(e) => return Err(format!("recvmmsg: {e}")),
        };
        Ok(got)
    }

    /// Receives everything waiting on `sock`, batch after batch; returns how many datagrams
    /// came and how many of them `accept` took.
    fn drain(
        &mut self,
        sock: &UdpSocket,
        accept: impl Fn(&[u8]) -> bool,
    ) -> Result<(usize, usize)> {
        let (mut got, mut ok) = (0, 0);
        loop {
            let n = self.recv(sock)?;
            got += n;
            ok += (0..n)
                .filter(|&k| accept(&self.bufs[k][..self.lens[k]]))
                .count();
            if n < BATCH {
                return Ok((got, ok));
            }
        }
    }

    /// Sends `count` datagrams of `len` bytes, each filled by `fill`, on a connected socket;
    /// returns how many left.
    ///
    /// With GSO on (see [`Batch::new`]) and datagrams of at most [`SMALL`] bytes, they leave as
    /// one UDP GSO message (`UDP_SEGMENT`, Linux 4.18): the generator's own output path runs
    /// once for the whole window instead of once per datagram, and the server still receives
    /// them one by one (on loopback the kernel splits the message before it reaches the
    /// server's socket). Where GSO is refused, it is turned off for good.
    fn send(
        &mut self,
        sock: &UdpSocket,
        count: usize,
        mut fill: impl FnMut(&mut [u8]),
        len: usize,
    ) -> Result<usize> {
        let count = count.min(BATCH);
        if !self.gso || len == 0 || len > SMALL || count < 2 {
            for buf in self.bufs.iter_mut().take(count) {
                fill(&mut buf[..len]);
            }
            return self.send_bufs(sock, count, |_| len);
        }
        for chunk in self.flat.chunks_exact_mut(len).take(count) {
            fill(chunk);
        }
        let segment = len as u16;
        let iov = [IoSlice::new(&self.flat[..count * len])];
        match sendmsg::<SockaddrStorage>(
            sock.as_fd().as_raw_fd(),
            &iov,
            &[ControlMessage::UdpGsoSegments(&segment)],
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(_) => Ok(count),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::ECONNREFUSED) => Ok(0),
            Err(
                nix::errno::Errno::EIO
                | nix::errno::Errno::EINVAL
                | nix::errno::Errno::ENOPROTOOPT
                | nix::errno::Errno::EOPNOTSUPP,
            ) => {
                self.gso = false;
                // The same datagrams again, one by one.
                for (buf, c) in self
                    .bufs
                    .iter_mut()
                    .zip(self.flat.chunks_exact(len))
                    .take(count)
                {
                    buf[..len].copy_from_slice(c);
                }
                self.send_bufs(sock, count, |_| len)
            }
            Err(e) => Err(format!("sendmsg (GSO): {e}")),
        }
    }

    /// Sends `bufs[i][..len(i)]` for `i < count` on a connected socket.
    fn send_bufs(
        &mut self,
        sock: &UdpSocket,
        count: usize,
        len: impl Fn(usize) -> usize,
    ) -> Result<usize> {
        let count = count.min(BATCH);
        if count == 0 {
            return Ok(0);
        }
        let iovs: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
            let l = if i < count { len(i).min(SLOT) } else { 0 };
            [IoSlice::new(&self.bufs[i][..l])]
        });
        let addrs: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
        match sendmmsg(
            sock.as_fd().as_raw_fd(),
            &mut self.send_headers,
            iovs[..count].iter(),
            &addrs[..count],
            [],
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(results) => Ok(results.count()),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::ECONNREFUSED) => Ok(0),
            Err(e) => Err(format!("sendmmsg: {e}")),
        }
    }
}

/// Waits up to `ms` for any of `socks` to become readable; returns which are.
fn wait_readable(socks: &[&UdpSocket], ready: &mut Vec<bool>, ms: u8) -> Result {
    let mut fds: Vec<PollFd<'_>> = socks
        .iter()
        .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
        .collect();
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(format!("poll: {e}")),
    }
    ready.clear();
    ready.extend(fds.iter().map(|f| {
        f.revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
    }));
    Ok(())
}

fn bind_connected(to: SocketAddr) -> Result<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).map_err(|e| format!("bind: {e}"))?;
    s.connect(to).map_err(|e| format!("connect {to}: {e}"))?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    // Room for a whole window arriving at once, so the generator does not lose what a
    // server sends in a burst (capped by the kernel's rmem_max/wmem_max).
    let _ = setsockopt(&s, sockopt::RcvBuf, &SOCKET_BUFFER);
    let _ = setsockopt(&s, sockopt::SndBuf, &SOCKET_BUFFER);
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Server CPU time

/// utime + stime of a process in seconds, from `/proc/PID/stat` (all its threads).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unreadable /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0], so utime (14) and stime (15) are fields[11] and fields[12].
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| "unreadable utime/stime".to_string())
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`); 100 on Linux unless the kernel says otherwise.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// The measured window: the start and end instants, and the server's CPU time at each.
struct Window {
    pid: Option<u32>,
    started: Instant,
    cpu0: f64,
}

impl Window {
    fn start(pid: Option<u32>) -> Result<Self> {
        let cpu0 = pid.map(cpu_seconds).transpose()?.unwrap_or(0.0);
        Ok(Self {
            pid,
            started: Instant::now(),
            cpu0,
        })
    }

    /// `secs=... server_cpu=...` for the window so far.
    fn finish(&self) -> Result<String> {
        let secs = self.started.elapsed().as_secs_f64();
        let cpu = match self.pid {
            Some(p) => format!(" server_cpu={:.3}", cpu_seconds(p)? - self.cpu0),
            None => String::new(),
        };
        Ok(format!("secs={secs:.3}{cpu}"))
    }
}

/// When the warm-up ends and when the measured window ends.
struct Clock {
    warm: Instant,
    end: Instant,
}

impl Clock {
    fn new(secs: f64) -> Self {
        let warm = Instant::now() + WARMUP;
        Self {
            warm,
            end: warm + Duration::from_secs_f64(secs),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// STUN

/// A Binding request with no attributes; the transaction id is `MARK`, the client index and a
/// sequence number.
fn binding_request(buf: &mut [u8], client: u32, seq: u32) {
    buf[..4].copy_from_slice(&[0x00, 0x01, 0x00, 0x00]);
    buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    buf[8..12].copy_from_slice(&MARK);
    buf[12..16].copy_from_slice(&client.to_be_bytes());
    buf[16..20].copy_from_slice(&seq.to_be_bytes());
}

/// A Binding success response to one of our requests.
fn is_binding_answer(d: &[u8]) -> bool {
    d.len() >= 20 && d[..2] == [0x01, 0x01] && d[8..12] == MARK
}

fn stun(o: &Options) -> Result<String> {
    let socks: Vec<UdpSocket> = (0..o.clients)
        .map(|_| bind_connected(o.server))
        .collect::<Result<_>>()?;
    let refs: Vec<&UdpSocket> = socks.iter().collect();
    let mut batch = Batch::new(o.gso);
    let mut outstanding = vec![0usize; socks.len()];
    let mut heard = vec![Instant::now(); socks.len()];
    let mut seq = 0u32;
    let mut ready = Vec::new();
    let clock = Clock::new(o.secs);
    let mut window: Option<Window> = None;
    let (mut answers, mut sent, mut stalls) = (0u64, 0u64, 0u64);
    loop {
        let now = Instant::now();
        if window.is_none() && now >= clock.warm {
            window = Some(Window::start(o.pid)?);
            (answers, sent, stalls) = (0, 0, 0);
        }
        if now >= clock.end {
            break;
        }
        for (i, s) in socks.iter().enumerate() {
            // Top the window up.
            while outstanding[i] < o.window {
                let want = o.window - outstanding[i];
                let request = |b: &mut [u8]| {
                    seq = seq.wrapping_add(1);
                    binding_request(b, i as u32, seq);
                };
                let n = batch.send(s, want, request, 20)?;
                outstanding[i] += n;
                sent += n as u64;
                if n == 0 {
                    break;
                }
            }
        }
        wait_readable(&refs, &mut ready, 5)?;
        let now = Instant::now();
        for (i, s) in socks.iter().enumerate() {
            if ready[i] {
                let (_, ok) = batch.drain(s, is_binding_answer)?;
                answers += ok as u64;
                outstanding[i] = outstanding[i].saturating_sub(ok);
                if ok > 0 {
                    heard[i] = now;
                }
            }
            if outstanding[i] > 0 && now.duration_since(heard[i]) > STALL {
                // The server dropped what was in flight: start the window again.
                outstanding[i] = 0;
                heard[i] = now;
                stalls += 1;
            }
        }
    }
    let w = window.ok_or("the run ended before the measured window started")?;
    Ok(format!(
        "mode=stun clients={} window={} sent={sent} answers={answers} stalls={stalls} {}",
        o.clients,
        o.window,
        w.finish()?
    ))
}

// ---------------------------------------------------------------------------------------------
// The floor: a STUN reflector

/// Datagrams per `recvmmsg`/`sendmmsg` in `reflect`: `stun-server`'s batch.
const REFLECT_BATCH: usize = 32;
/// The longest answer: a Binding success response with XOR-MAPPED-ADDRESS for IPv6, 20 + 24 bytes.
const REFLECT_V6: usize = 44;
/// How often the reflector looks at the clock while nothing arrives.
const REFLECT_POLL: Duration = Duration::from_millis(50);

fn reflect(args: &[String]) -> Result<String> {
    let usage = "usage: loadgen reflect --listen ADDR [--secs S]";
    let (mut listen, mut secs) = (None, 600.0f64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
        match flag.as_str() {
            "--listen" => {
                listen = Some(
                    value
                        .parse::<SocketAddr>()
                        .map_err(|_| format!("--listen: {value:?} is not an address"))?,
                );
            }
            "--secs" => {
                secs = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.1..=3600.0).contains(s))
                    .ok_or_else(|| {
                        format!("--secs: {value:?} is not a number of seconds in 0.1..=3600")
                    })?;
            }
            _ => return Err(format!("unknown option {flag}; {usage}")),
        }
    }
    let listen = listen.ok_or_else(|| format!("--listen is required; {usage}"))?;
    if !listen.ip().is_loopback() {
        return Err(format!("{listen} is not a loopback address"));
    }
    let sock = UdpSocket::bind(listen).map_err(|e| format!("bind {listen}: {e}"))?;
    sock.set_read_timeout(Some(REFLECT_POLL))
        .map_err(|e| e.to_string())?;
    let _ = setsockopt(&sock, sockopt::RcvBuf, &(4usize << 20));
    let _ = setsockopt(&sock, sockopt::SndBuf, &(4usize << 20));
    eprintln!(
        "loadgen: reflecting on {}",
        sock.local_addr().map_err(|e| e.to_string())?
    );
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(REFLECT_BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(REFLECT_BATCH, None);
    let mut bufs = [[0u8; 64]; REFLECT_BATCH];
    let mut answers = [[0u8; REFLECT_V6]; REFLECT_BATCH];
    let mut lens = [0usize; REFLECT_BATCH];
    let mut to: [Option<SockaddrStorage>; REFLECT_BATCH] = [None; REFLECT_BATCH];
    let (mut requests, mut answered) = (0u64, 0u64);
    while Instant::now() < end {
        let mut iovs: [[IoSliceMut<'_>; 1]; REFLECT_BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
        for (iov, buf) in iovs.iter_mut().zip(bufs.iter_mut()) {
            *iov = [IoSliceMut::new(buf)];
        }
        // Who sent each datagram, and its length when it fit whole.
        let mut got: [(Option<SocketAddr>, Option<usize>); REFLECT_BATCH] =
            [(None, None); REFLECT_BATCH];
        let count = match recvmmsg(
            sock.as_fd().as_raw_fd(),
            &mut recv_headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        ) {
            Ok(results) => {
                let mut k = 0;
                for (r, g) in results.zip(got.iter_mut()) {
                    let whole = !r.flags.contains(MsgFlags::MSG_TRUNC);
                    *g = (
                        r.address.as_ref().and_then(to_std),
                        whole.then_some(r.bytes),
                    );
                    k += 1;
                }
                k
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("recvmmsg: {e}")),
        };
        requests += count as u64;
        let mut n = 0;
        for (buf, g) in bufs.iter().zip(&got).take(count) {
            let (Some(from), Some(len)) = *g else {
                continue;
            };
            if let Some(l) = binding_reflection(&buf[..len], from, &mut answers[n]) {
                lens[n] = l;
                to[n] = Some(SockaddrStorage::from(from));
                n += 1;
            }
        }
        if n == 0 {
            continue;
        }
        let iovs: [[IoSlice<'_>; 1]; REFLECT_BATCH] =
            std::array::from_fn(|i| [IoSlice::new(&answers[i][..if i < n { lens[i] } else { 0 }])]);
        match sendmmsg(
            sock.as_fd().as_raw_fd(),
            &mut send_headers,
            iovs[..n].iter(),
            &to[..n],
            [],
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(sent) => answered += sent.count() as u64,
            // A full send buffer drops the batch, as a server would.
            Err(nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(format!("sendmmsg: {e}")),
        }
    }
    Ok(format!(
        "mode=reflect requests={requests} answers={answered}"
    ))
}

/// Writes into `out` the Binding success response to `request` (a Binding request from
/// `from`: XOR-MAPPED-ADDRESS only) and returns its length; None for anything else.
fn binding_reflection(
    request: &[u8],
    from: SocketAddr,
    out: &mut [u8; REFLECT_V6],
) -> Option<usize> {
    if request.len() < 20
        || request[..2] != [0x00, 0x01]
        || request[4..8] != MAGIC_COOKIE.to_be_bytes()
    {
        return None;
    }
    let tid = TransactionId::new(request[8..20].try_into().ok()?);
    let mut w = MessageWriter::new(out, Class::Success, Method::BINDING, tid).ok()?;
    w.push(&XorMappedAddress(from)).ok()?;
    w.finish(false).ok()
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// One request/response exchange over a blocking socket, retransmitted a few times.
fn exchange<'b>(
    sock: &UdpSocket,
    req: &[u8],
    tid: TransactionId,
    buf: &'b mut [u8],
) -> Result<Message<'b>> {
    sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let mut len = None;
    'tries: for _ in 0..6 {
        sock.send(req).map_err(|e| format!("send: {e}"))?;
        loop {
            match sock.recv(buf) {
                Ok(n) => {
                    if Message::parse(&buf[..n]).is_ok_and(|m| m.transaction_id() == tid) {
                        len = Some(n);
                        break 'tries;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
    }
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    let n = len.ok_or("no answer from the TURN server")?;
    Message::parse(&buf[..n]).map_err(|e| format!("bad answer: {e}"))
}

/// Long-term credentials as the server announced them.
struct Auth {
    user: String,
    realm: String,
    nonce: String,
    key: Key,
}

/// Builds an authenticated request (`auth` None: the first, unauthenticated one).
fn request(
    buf: &mut [u8],
    method: Method,
    tid: TransactionId,
    auth: Option<&Auth>,
    attrs: impl FnOnce(&mut MessageWriter<'_>) -> std::result::Result<(), icebreaker_stun::EncodeError>,
) -> Result<usize> {
    let mut w = MessageWriter::new(buf, Class::Request, method, tid).map_err(|e| e.to_string())?;
    attrs(&mut w).map_err(|e| e.to_string())?;
    match auth {
        None => w.finish(false),
        Some(a) => {
            w.push(&Username(&a.user)).map_err(|e| e.to_string())?;
            w.push(&Realm(&a.realm)).map_err(|e| e.to_string())?;
            w.push(&Nonce(&a.nonce)).map_err(|e| e.to_string())?;
            w.finish_with_integrity(&a.key, Integrity::Sha1, false)
        }
    }
    .map_err(|e| e.to_string())
}

fn tid(n: u32, step: u32) -> TransactionId {
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&MARK);
    t[4..8].copy_from_slice(&n.to_be_bytes());
    t[8..12].copy_from_slice(&step.to_be_bytes());
    TransactionId::new(t)
}

/// An authenticated request, retried once with a fresh nonce on 438 (Stale Nonce).
fn authenticated(
    sock: &UdpSocket,
    auth: &mut Auth,
    method: Method,
    id: (u32, u32),
    attrs: &dyn Fn(&mut MessageWriter<'_>) -> std::result::Result<(), icebreaker_stun::EncodeError>,
    out: &mut [u8],
) -> Result<usize> {
    let mut req = [0u8; 512];
    for attempt in 0..2 {
        let t = tid(id.0, id.1 * 2 + attempt);
        let n = request(&mut req, method, t, Some(auth), |w| attrs(w))?;
        let m = exchange(sock, &req[..n], t, out)?;
        match m.class() {
            Class::Success => return Ok(m.as_bytes().len()),
            _ => {
                let code = m.get::<ErrorCode<'_>>().ok().flatten();
                if code.is_some_and(|c| c.code == 438)
                    && let Ok(Some(Nonce(n))) = m.get::<Nonce<'_>>()
                {
                    auth.nonce = n.to_string();
                    continue;
                }
                return Err(format!(
                    "{method:?} refused: {}",
                    code.map_or("no ERROR-CODE".to_string(), |c| format!(
                        "{} {}",
                        c.code, c.reason
                    ))
                ));
            }
        }
    }
    Err(format!("{method:?}: stale nonce twice"))
}

/// One allocation: the client socket (connected to the server), its peer socket (connected to
/// the relayed address) and the channel number bound between them.
struct Allocation {
    client: UdpSocket,
    peer: UdpSocket,
    channel: u16,
    auth: Auth,
    index: u32,
}

impl Allocation {
    /// Deletes the allocation (Refresh with LIFETIME 0), so a server's quota is free for the
    /// next run. Best effort: the measurement is already taken.
    fn release(&mut self) {
        let mut buf = [0u8; SLOT];
        let zero = |w: &mut MessageWriter<'_>| w.push(&Lifetime(0));
        // Drain what is still in flight so the answer is found.
        while self.client.recv(&mut buf).is_ok() {}
        let _ = authenticated(
            &self.client,
            &mut self.auth,
            Method::REFRESH,
            (self.index, 3),
            &zero,
            &mut buf,
        );
    }
}

fn allocate(o: &Options, i: u32) -> Result<Allocation> {
    let (user, pass) = o.user.clone().ok_or("turn needs --user U:P")?;
    let client = bind_connected(o.server)?;
    let mut req = [0u8; 512];
    let mut buf = [0u8; SLOT];
    let udp = |w: &mut MessageWriter<'_>| w.push(&RequestedTransport(17));
    // The unauthenticated request carries a long SOFTWARE: servers that never answer more than
    // a few times the request's size (against reflection attacks) then have room for their
    // 401 with REALM and NONCE.
    let padded = |w: &mut MessageWriter<'_>| {
        w.push(&RequestedTransport(17))?;
        w.push(&Software(SOFTWARE))
    };
    let t = tid(i, 0);
    let n = request(&mut req, Method::ALLOCATE, t, None, padded)?;
    let m = exchange(&client, &req[..n], t, &mut buf)?;
    let (realm, nonce) = match (m.get::<Realm<'_>>(), m.get::<Nonce<'_>>()) {
        (Ok(Some(Realm(r))), Ok(Some(Nonce(n)))) => (r.to_string(), n.to_string()),
        _ => return Err("the first Allocate was not challenged with REALM and NONCE".into()),
    };
    let key = Key::long_term(
        &user,
        &realm,
        &pass,
        PasswordAlgorithmId::MD5,
        Preparation::None,
    )
    .map_err(|e| e.to_string())?;
    let mut auth = Auth {
        user,
        realm,
        nonce,
        key,
    };
    let len = authenticated(&client, &mut auth, Method::ALLOCATE, (i, 1), &udp, &mut buf)?;
    let m = Message::parse(&buf[..len]).map_err(|e| e.to_string())?;
    let Ok(Some(XorRelayedAddress(relayed))) = m.get::<XorRelayedAddress>() else {
        return Err("Allocate success without XOR-RELAYED-ADDRESS".into());
    };
    let peer = bind_connected(relayed)?;
    let peer_addr = peer.local_addr().map_err(|e| e.to_string())?;
    let channel = 0x4000 + i as u16;
    let bind = |w: &mut MessageWriter<'_>| {
        w.push(&ChannelNumber(channel))?;
        w.push(&XorPeerAddress(peer_addr))
    };
    authenticated(
        &client,
        &mut auth,
        Method::CHANNEL_BIND,
        (i, 2),
        &bind,
        &mut buf,
    )?;
    Ok(Allocation {
        client,
        peer,
        channel,
        auth,
        index: i,
    })
}

fn turn(o: &Options) -> Result<String> {
    let mut allocs: Vec<Allocation> = (0..o.clients)
        .map(|i| allocate(o, i as u32))
        .collect::<Result<_>>()?;
    // Sockets 0..n are the clients, n..2n the peers.
    let n = allocs.len();
    let refs: Vec<&UdpSocket> = allocs
        .iter()
        .map(|a| &a.client)
        .chain(allocs.iter().map(|a| &a.peer))
        .collect();
    let mut batch = Batch::new(false);
    let mut outstanding = vec![0usize; n];
    let mut heard = vec![Instant::now(); n];
    let mut ready = Vec::new();
    let size = o.size;
    let clock = Clock::new(o.secs);
    let mut window: Option<Window> = None;
    let (mut at_peers, mut at_clients, mut sent, mut stalls, mut bad) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    loop {
        let now = Instant::now();
        if window.is_none() && now >= clock.warm {
            window = Some(Window::start(o.pid)?);
            (at_peers, at_clients, sent, stalls, bad) = (0, 0, 0, 0, 0);
        }
        if now >= clock.end {
            break;
        }
        for (i, a) in allocs.iter().enumerate() {
            while outstanding[i] < o.window {
                let want = o.window - outstanding[i];
                let channel = a.channel;
                let k = batch.send(
                    &a.client,
                    want,
                    |b| {
                        // ChannelData: channel number, length, then the marked payload.
                        b[..2].copy_from_slice(&channel.to_be_bytes());
                        b[2..4].copy_from_slice(&(size as u16).to_be_bytes());
                        b[4..8].copy_from_slice(&MARK);
                    },
                    4 + size,
                )?;
                outstanding[i] += k;
                sent += k as u64;
                if k == 0 {
                    break;
                }
            }
        }
        wait_readable(&refs, &mut ready, 5)?;
        let now = Instant::now();
        for (i, a) in allocs.iter().enumerate() {
            if ready[n + i] {
                // The peer: count and echo every payload back to the relayed address.
                loop {
                    let got = batch.recv(&a.peer)?;
                    let mut keep = 0;
                    for k in 0..got {
                        let len = batch.lens[k];
                        if len == size && batch.bufs[k][..4] == MARK {
                            if keep != k {
                                let (lo, hi) = batch.bufs.split_at_mut(k);
                                lo[keep][..len].copy_from_slice(&hi[0][..len]);
                            }
                            keep += 1;
                        } else {
                            bad += 1;
                        }
                    }
                    at_peers += keep as u64;
                    let mut done = 0;
                    // Echo in batches; a full send buffer drops the rest, as UDP would.
                    while done < keep {
                        let sent_now = batch.send_bufs(&a.peer, keep - done, |_| size)?;
                        if sent_now == 0 {
                            break;
                        }
                        if done + sent_now < keep {
                            // Move the unsent tail to the front for the next call.
                            batch.bufs.copy_within(sent_now..keep - done, 0);
                        }
                        done += sent_now;
                    }
                    if got < BATCH {
                        break;
                    }
                }
            }
            if ready[i] {
                let (got, ok) = batch.drain(&a.client, |d| {
                    d.len() >= 4 + size
                        && d[..2] == a.channel.to_be_bytes()
                        && d[2..4] == (size as u16).to_be_bytes()
                        && d[4..8] == MARK
                })?;
                bad += (got - ok) as u64;
                at_clients += ok as u64;
                outstanding[i] = outstanding[i].saturating_sub(ok);
                if ok > 0 {
                    heard[i] = now;
                }
            }
            if outstanding[i] > 0 && now.duration_since(heard[i]) > STALL {
                outstanding[i] = 0;
                heard[i] = now;
                stalls += 1;
            }
        }
    }
    let w = window.ok_or("the run ended before the measured window started")?;
    let line = format!(
        "mode=turn allocations={n} size={size} window={} sent={sent} at_peers={at_peers} at_clients={at_clients} relayed={} bad={bad} stalls={stalls} {}",
        o.window,
        at_peers + at_clients,
        w.finish()?
    );
    drop(refs);
    for a in &mut allocs {
        a.release();
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reflector_answers_what_a_stun_server_would() {
        let mut request = [0u8; 20];
        binding_request(&mut request, 3, 9);
        for from in ["127.0.0.1:40000", "[::1]:5", "[2001:db8::7]:65535"] {
            let from: SocketAddr = from.parse().expect("address");
            let mut out = [0u8; REFLECT_V6];
            let len = binding_reflection(&request, from, &mut out).expect("answered");
            let m = Message::parse(&out[..len]).expect("valid STUN");
            assert_eq!((m.class(), m.method()), (Class::Success, Method::BINDING));
            assert_eq!(m.transaction_id().as_bytes()[..], request[8..20]);
            let Ok(Some(XorMappedAddress(mapped))) = m.get::<XorMappedAddress>() else {
                panic!("no XOR-MAPPED-ADDRESS for {from}");
            };
            assert_eq!(mapped, from);
        }
        let mut answer = [0u8; 20];
        answer.copy_from_slice(&request);
        answer[1] = 0x11; // an indication
        let mut out = [0u8; REFLECT_V6];
        let from: SocketAddr = "127.0.0.1:1".parse().expect("address");
        assert_eq!(binding_reflection(&answer, from, &mut out), None);
        assert_eq!(binding_reflection(&request[..19], from, &mut out), None);
    }

    #[test]
    fn the_reflector_answers_over_the_socket_and_stops_on_time() {
        let port = {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.local_addr().expect("addr").port()
        };
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<String> = ["--listen", &listen, "--secs", "1"]
            .map(String::from)
            .to_vec();
        let started = Instant::now();
        let reflector = std::thread::spawn(move || reflect(&args));
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut request = [0u8; 20];
        binding_request(&mut request, 1, 1);
        let mut buf = [0u8; 64];
        // The reflector may not be bound yet: ask until it answers, for at most 0.8 s.
        let answer = (0..8).find_map(|_| {
            client.send_to(&request, &listen).expect("send");
            client.recv(&mut buf).ok()
        });
        // A Binding success response with XOR-MAPPED-ADDRESS for IPv4: 20 + 12 bytes.
        assert_eq!(answer, Some(32));
        assert!(is_binding_answer(&buf[..32]));
        let line = reflector.join().expect("no panic").expect("ran");
        assert!(started.elapsed() < Duration::from_secs(3), "{line}");
        assert!(line.starts_with("mode=reflect requests="), "{line}");
    }

    #[test]
    fn gso_requests_arrive_as_one_datagram_each() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let client = bind_connected(server.local_addr().expect("addr")).expect("client");
        let mut batch = Batch::new(true);
        let mut seq = 0;
        let sent = batch
            .send(
                &client,
                5,
                |b| {
                    seq += 1;
                    binding_request(b, 7, seq);
                },
                20,
            )
            .expect("send");
        assert_eq!(sent, 5);
        let mut buf = [0u8; 64];
        for want in 1..=5u32 {
            let n = server.recv(&mut buf).expect("a datagram per request");
            assert_eq!(n, 20, "request {want} arrived as {n} bytes");
            let mut expected = [0u8; 20];
            binding_request(&mut expected, 7, want);
            assert_eq!(buf[..n], expected);
        }
    }
}
