//! Batched UDP I/O for the servers: many datagrams per system call.
//!
//! On Linux and Android, [`RecvBatch::recv`] is one `recvmmsg(2)` and [`send_to_many`] one
//! `sendmmsg(2)`, both through nix's safe wrappers (this crate forbids `unsafe`). Elsewhere the
//! same API loops over `recv_from`/`send_to`, one datagram per call.
//!
//! [`RecvBatch::recv`] and the sends never block (`MSG_DONTWAIT` on Linux; elsewhere the
//! socket must be non-blocking, as tokio's are): a call that would block returns
//! [`io::ErrorKind::WouldBlock`], which is what tokio's `try_io` expects.
//! [`RecvBatch::recv_wait`] is for a blocking socket on a thread of its own. Nothing here
//! allocates after construction: the receive slots are one boxed slice, and the message
//! headers nix needs are preallocated once per thread (they hold raw pointers, so they may not
//! live in a `Send` future; a thread-local keeps them out of every task's state).

use core::net::{Ipv4Addr, SocketAddr};
use std::io;
use std::os::fd::AsFd;

/// Most datagrams moved by one call.
pub(crate) const BATCH: usize = 32;

/// Receive slots for up to [`BATCH`] datagrams, each with `headroom` bytes in front of the
/// payload (so a header can be written in place) and `tailroom` bytes after it.
#[derive(Debug)]
pub(crate) struct RecvBatch {
    slots: Box<[u8]>,
    stride: usize,
    headroom: usize,
    max: usize,
    /// Per received datagram: its source and its length (`None`: truncated, to be dropped).
    got: [(SocketAddr, Option<usize>); BATCH],
    count: usize,
}

const NOWHERE: SocketAddr = SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl RecvBatch {
    /// Slots for datagrams of up to `max` bytes; longer ones are reported as truncated.
    pub(crate) fn new(max: usize, headroom: usize, tailroom: usize) -> Self {
        let stride = headroom + max + tailroom;
        Self {
            slots: vec![0u8; stride * BATCH].into_boxed_slice(),
            stride,
            headroom,
            max,
            got: [(NOWHERE, None); BATCH],
            count: 0,
        }
    }

    /// Slot `k` of the last receive, whole (headroom, payload, tailroom): what
    /// [`slot_mut`](Self::slot_mut) left there.
    pub(crate) fn slot(&self, k: usize) -> Option<&[u8]> {
        let start = k.checked_mul(self.stride).filter(|_| k < self.count)?;
        self.slots.get(start..start + self.stride)
    }

    /// Datagram `k` of the last receive: its source and payload, or `None` when it was longer
    /// than the slots (the kernel truncated it) or `k` is out of range.
    pub(crate) fn datagram(&self, k: usize) -> Option<(SocketAddr, &[u8])> {
        let (from, len) = *self.got.get(k).filter(|_| k < self.count)?;
        let start = k * self.stride + self.headroom;
        Some((from, self.slots.get(start..start + len?)?))
    }

    /// Datagram `k` with its whole slot: the source, the slot (headroom, payload, tailroom)
    /// and the payload length. `None` as for [`datagram`](Self::datagram).
    pub(crate) fn slot_mut(&mut self, k: usize) -> Option<(SocketAddr, &mut [u8], usize)> {
        let (from, len) = *self.got.get(k).filter(|_| k < self.count)?;
        let start = k * self.stride;
        let slot = self.slots.get_mut(start..start + self.stride)?;
        Some((from, slot, len?))
    }

    /// Receives up to [`BATCH`] datagrams on `socket`, bound to `local` (only its address
    /// family matters); [`io::ErrorKind::WouldBlock`] when none is waiting.
    pub(crate) fn recv(&mut self, socket: &impl AsFd, local: SocketAddr) -> io::Result<usize> {
        self.receive(socket, local, false)
    }

    /// Like [`recv`](Self::recv), but on a blocking socket: waits for the first datagram
    /// (up to the socket's read timeout, then [`io::ErrorKind::WouldBlock`] or
    /// [`io::ErrorKind::TimedOut`]), then takes whatever else is already waiting, up to
    /// [`BATCH`], without waiting again (`MSG_WAITFORONE`).
    pub(crate) fn recv_wait(&mut self, socket: &impl AsFd, local: SocketAddr) -> io::Result<usize> {
        self.receive(socket, local, true)
    }

    fn receive(&mut self, socket: &impl AsFd, local: SocketAddr, wait: bool) -> io::Result<usize> {
        self.count = 0;
        let n = sys::recv(socket, local.is_ipv6(), wait, self)?;
        self.count = n;
        Ok(n)
    }
}

/// Sends each `(to, datagram)` of `msgs` (at most [`BATCH`] are looked at) from `socket`;
/// returns how many the kernel took, from the front. [`io::ErrorKind::WouldBlock`] when it
/// took none because the send buffer is full.
pub(crate) fn send_to_many(socket: &impl AsFd, msgs: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let msgs = msgs.get(..BATCH.min(msgs.len())).unwrap_or_default();
    if msgs.is_empty() {
        return Ok(0);
    }
    sys::send(socket, msgs)
}

/// Like [`send_to_many`], but when every datagram of `msgs` has the same length, each run of
/// consecutive datagrams to one destination leaves as one UDP GSO message (`UDP_SEGMENT`,
/// Linux 4.18): the kernel's output path runs once per run instead of once per datagram, and
/// the receiver still gets the datagrams one by one. Where GSO is refused (no checksum offload,
/// an old kernel) it is turned off for this thread and the datagrams go one by one. Returns how
/// many datagrams the kernel took, from the front.
pub(crate) fn send_to_many_coalesced(
    socket: &impl AsFd,
    msgs: &[(SocketAddr, &[u8])],
) -> io::Result<usize> {
    let msgs = msgs.get(..BATCH.min(msgs.len())).unwrap_or_default();
    if msgs.is_empty() {
        return Ok(0);
    }
    sys::send_coalesced(socket, msgs)
}

/// Asks for `bytes` of kernel receive and send buffer on `socket` (the kernel caps it at its
/// `rmem_max`/`wmem_max`), so that a burst from many clients queues instead of being dropped
/// while the server works on the batch before it. Best effort.
pub(crate) fn grow_buffers(socket: &impl AsFd, bytes: usize) {
    if let Err(e) = sys::grow_buffers(socket, bytes) {
        tracing::debug!("cannot grow the socket buffers: {e}");
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod sys {
    use core::cell::RefCell;
    use core::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::io::{self, IoSlice, IoSliceMut};
    use std::os::fd::{AsFd, AsRawFd};

    use nix::errno::Errno;
    use nix::sys::socket::{
        ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
    };

    use super::{BATCH, NOWHERE, RecvBatch};

    /// Most segments in one GSO message (the kernel's `UDP_MAX_SEGMENTS`).
    const MAX_SEGMENTS: usize = 64;
    /// Most payload bytes in one GSO message (one IP datagram's worth).
    const MAX_GSO_BYTES: usize = 65_000;

    /// nix's preallocated `mmsghdr` arrays. The receive side keeps one per address family:
    /// nix does not reset a header's address length between calls and the kernel leaves the
    /// last source's length there, so a header last used for IPv4 would truncate an IPv6
    /// source. Sends set every header they use afresh, but get
    /// their own array all the same, so no receive ever sees a send's address pointers.
    /// GSO sends get headers of their own, with room for exactly one `UDP_SEGMENT` control
    /// message each (every GSO call carries one, so no header has a stale control length).
    struct Headers {
        recv4: MultiHeaders<SockaddrStorage>,
        recv6: MultiHeaders<SockaddrStorage>,
        send: MultiHeaders<SockaddrStorage>,
        gso: MultiHeaders<SockaddrStorage>,
        gso_off: bool,
    }

    thread_local! {
        static HEADERS: RefCell<Headers> = RefCell::new(Headers {
            recv4: MultiHeaders::preallocate(BATCH, None),
            recv6: MultiHeaders::preallocate(BATCH, None),
            send: MultiHeaders::preallocate(BATCH, None),
            gso: MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(u16))),
            gso_off: false,
        });
    }

    fn busy() -> io::Error {
        io::Error::other("batched UDP headers already in use on this thread")
    }

    fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = a.as_sockaddr_in() {
            Some(SocketAddr::V4(SocketAddrV4::from(*v4)))
        } else {
            a.as_sockaddr_in6()
                .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
        }
    }

    pub(super) fn recv(
        socket: &impl AsFd,
        v6: bool,
        wait: bool,
        batch: &mut RecvBatch,
    ) -> io::Result<usize> {
        let fd = socket.as_fd();
        let flags = if wait {
            MsgFlags::MSG_WAITFORONE
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        HEADERS.with(|h| {
            let mut h = h.try_borrow_mut().map_err(|_| busy())?;
            let headers = if v6 { &mut h.recv6 } else { &mut h.recv4 };
            let (stride, headroom, max) = (batch.stride, batch.headroom, batch.max);
            let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
                core::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
            for (iov, slot) in iovs.iter_mut().zip(batch.slots.chunks_exact_mut(stride)) {
                if let Some(payload) = slot.get_mut(headroom..headroom + max) {
                    *iov = [IoSliceMut::new(payload)];
                }
            }
            let results = recvmmsg(fd.as_raw_fd(), headers, iovs.iter_mut(), flags, None)
                .map_err(io::Error::from)?;
            let mut n = 0;
            for (r, got) in results.zip(batch.got.iter_mut()) {
                let from = r.address.as_ref().and_then(to_std).unwrap_or(NOWHERE);
                let whole = !r.flags.contains(MsgFlags::MSG_TRUNC);
                *got = (from, whole.then_some(r.bytes));
                n += 1;
            }
            Ok(n)
        })
    }

    pub(super) fn send(socket: &impl AsFd, msgs: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
        let fd = socket.as_fd();
        HEADERS.with(|h| {
            let mut h = h.try_borrow_mut().map_err(|_| busy())?;
            let iovs: [[IoSlice<'_>; 1]; BATCH] =
                core::array::from_fn(|i| [IoSlice::new(msgs.get(i).map_or(&[][..], |m| m.1))]);
            let addrs: [Option<SockaddrStorage>; BATCH] =
                core::array::from_fn(|i| msgs.get(i).map(|m| SockaddrStorage::from(m.0)));
            let n = msgs.len().min(BATCH);
            let sent = sendmmsg(
                fd.as_raw_fd(),
                &mut h.send,
                iovs[..n].iter(),
                &addrs[..n],
                [],
                MsgFlags::MSG_DONTWAIT,
            )
            .map_err(io::Error::from)?;
            Ok(sent.count())
        })
    }

    pub(super) fn grow_buffers(socket: &impl AsFd, bytes: usize) -> io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt};
        setsockopt(socket, sockopt::RcvBuf, &bytes)?;
        setsockopt(socket, sockopt::SndBuf, &bytes)?;
        Ok(())
    }

    pub(super) fn send_coalesced(
        socket: &impl AsFd,
        msgs: &[(SocketAddr, &[u8])],
    ) -> io::Result<usize> {
        let len = msgs.first().map_or(0, |m| m.1.len());
        let same_length = msgs.iter().all(|m| m.1.len() == len);
        let segment = u16::try_from(len).ok().filter(|s| *s > 0);
        let gso_off = HEADERS.with(|h| h.try_borrow().map(|h| h.gso_off).unwrap_or(true));
        let (Some(segment), true, false) = (segment, same_length && msgs.len() > 1, gso_off) else {
            return send(socket, msgs);
        };
        // Runs of consecutive datagrams to one destination: `bounds[r]..bounds[r + 1]`.
        let mut bounds = [0usize; BATCH + 1];
        let mut runs = 0;
        for i in 1..=msgs.len() {
            let start = bounds[runs];
            let ends = i == msgs.len()
                || msgs[i].0 != msgs[start].0
                || i - start == MAX_SEGMENTS
                || (i - start + 1) * len > MAX_GSO_BYTES;
            if ends {
                runs += 1;
                bounds[runs] = i;
            }
        }
        if runs == msgs.len() {
            // Nothing to coalesce.
            return send(socket, msgs);
        }
        let fd = socket.as_fd();
        let result = HEADERS.with(|h| {
            let mut h = h.try_borrow_mut().map_err(|_| busy())?;
            let flat: [IoSlice<'_>; BATCH] =
                core::array::from_fn(|i| IoSlice::new(msgs.get(i).map_or(&[][..], |m| m.1)));
            let slices: [&[IoSlice<'_>]; BATCH] = core::array::from_fn(|r| {
                if r < runs {
                    flat.get(bounds[r]..bounds[r + 1]).unwrap_or_default()
                } else {
                    &[]
                }
            });
            let addrs: [Option<SockaddrStorage>; BATCH] = core::array::from_fn(|r| {
                (r < runs)
                    .then(|| msgs.get(bounds[r]))
                    .flatten()
                    .map(|m| SockaddrStorage::from(m.0))
            });
            let sent = sendmmsg(
                fd.as_raw_fd(),
                &mut h.gso,
                slices[..runs].iter(),
                &addrs[..runs],
                [ControlMessage::UdpGsoSegments(&segment)],
                MsgFlags::MSG_DONTWAIT,
            )
            .map(|r| r.count());
            match sent {
                // `k` whole runs went: that many datagrams.
                Ok(k) => Ok(Some(bounds[k.min(runs)])),
                // No GSO here (no checksum offload, an old kernel, a path too narrow for the
                // segment): never again on this thread.
                Err(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP) => {
                    h.gso_off = true;
                    Ok(None)
                }
                Err(e) => Err(io::Error::from(e)),
            }
        })?;
        match result {
            Some(n) => Ok(n),
            None => send(socket, msgs),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod sys {
    use core::mem::MaybeUninit;
    use core::net::SocketAddr;
    use std::io;
    use std::os::fd::AsFd;

    use super::{BATCH, RecvBatch};

    pub(super) fn recv(
        socket: &impl AsFd,
        _v6: bool,
        wait: bool,
        batch: &mut RecvBatch,
    ) -> io::Result<usize> {
        let sock = socket2::SockRef::from(socket);
        // A blocking socket would block again after the first datagram: take just that one.
        let most = if wait { 1 } else { BATCH };
        let (stride, headroom, max) = (batch.stride, batch.headroom, batch.max);
        let mut n = 0;
        for (slot, got) in batch
            .slots
            .chunks_exact_mut(stride)
            .zip(batch.got.iter_mut())
            .take(most)
        {
            let Some(payload) = slot.get_mut(headroom..headroom + max) else {
                break;
            };
            // SAFETY-free: socket2 reads into `MaybeUninit<u8>`; initialised bytes view as such.
            let buf: &mut [MaybeUninit<u8>] = socket2::MaybeUninitSlice::new(payload).as_mut();
            match sock.recv_from(buf) {
                Ok((len, from)) => {
                    let from = from.as_socket().unwrap_or(super::NOWHERE);
                    *got = (from, (len <= max).then_some(len));
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    pub(super) fn send_coalesced(
        socket: &impl AsFd,
        msgs: &[(SocketAddr, &[u8])],
    ) -> io::Result<usize> {
        send(socket, msgs)
    }

    pub(super) fn grow_buffers(socket: &impl AsFd, bytes: usize) -> io::Result<()> {
        let sock = socket2::SockRef::from(socket);
        sock.set_recv_buffer_size(bytes)?;
        sock.set_send_buffer_size(bytes)
    }

    pub(super) fn send(socket: &impl AsFd, msgs: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
        let sock = socket2::SockRef::from(socket);
        let mut n = 0;
        for (to, data) in msgs.iter().take(BATCH) {
            match sock.send_to(data, &(*to).into()) {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    fn socket(ip: &str) -> UdpSocket {
        let s = UdpSocket::bind((ip, 0)).expect("bind");
        s.set_nonblocking(true).expect("non-blocking");
        s
    }

    /// Receives everything waiting on `s` (loopback delivers during the send).
    fn drain(s: &UdpSocket) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = s.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    }

    #[test]
    fn coalesced_runs_arrive_as_the_datagrams_they_were() {
        let tx = socket("127.0.0.1");
        let (a, b) = (socket("127.0.0.1"), socket("127.0.0.1"));
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let payloads: Vec<[u8; 100]> = (0..6u8).map(|i| [i; 100]).collect();
        let msgs: Vec<(SocketAddr, &[u8])> = [to_a, to_a, to_a, to_b, to_a, to_a]
            .into_iter()
            .zip(payloads.iter().map(|p| &p[..]))
            .collect();
        let mut sent = 0;
        while sent < msgs.len() {
            sent += send_to_many_coalesced(&tx, &msgs[sent..]).expect("send");
        }
        let at_a = drain(&a);
        let at_b = drain(&b);
        let want_a: Vec<Vec<u8>> = [0, 1, 2, 4, 5].iter().map(|&i| vec![i; 100]).collect();
        assert_eq!(at_a, want_a);
        assert_eq!(at_b, vec![vec![3u8; 100]]);
    }

    #[test]
    fn mixed_lengths_go_one_by_one() {
        let tx = socket("127.0.0.1");
        let a = socket("127.0.0.1");
        let to = a.local_addr().unwrap();
        let (long, short) = ([7u8; 300], [8u8; 20]);
        let msgs = [(to, &long[..]), (to, &short[..]), (to, &long[..])];
        assert_eq!(send_to_many_coalesced(&tx, &msgs).expect("send"), 3);
        assert_eq!(
            drain(&a),
            vec![long.to_vec(), short.to_vec(), long.to_vec()]
        );
    }

    #[test]
    fn recv_batch_reports_sources_lengths_and_truncation() {
        let rx = socket("127.0.0.1");
        let local = rx.local_addr().unwrap();
        let (s1, s2) = (socket("127.0.0.1"), socket("127.0.0.1"));
        s1.send_to(b"hello", local).unwrap();
        s2.send_to(&[9u8; 100], local).unwrap();
        s1.send_to(b"world!", local).unwrap();
        let mut batch = RecvBatch::new(64, 4, 4);
        assert_eq!(batch.recv(&rx, local).expect("recv"), 3);
        let from1 = s1.local_addr().unwrap();
        assert_eq!(batch.datagram(0), Some((from1, &b"hello"[..])));
        // Longer than the 64-byte slots: reported, never handed out cut short.
        assert_eq!(batch.datagram(1), None);
        assert!(batch.slot_mut(1).is_none());
        assert_eq!(batch.datagram(2), Some((from1, &b"world!"[..])));
        let (from, slot, len) = batch.slot_mut(2).expect("slot");
        assert_eq!((from, len), (from1, 6));
        assert_eq!(&slot[4..10], b"world!");
        assert_eq!(batch.datagram(3), None);
        let err = batch.recv(&rx, local).expect_err("nothing waiting");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn ipv6_sources_survive_an_ipv4_receive_on_the_same_thread() {
        let Ok(rx6) = UdpSocket::bind("[::1]:0") else {
            return; // No IPv6 loopback on this machine: nothing to compare.
        };
        rx6.set_nonblocking(true).unwrap();
        let rx4 = socket("127.0.0.1");
        let (l4, l6) = (rx4.local_addr().unwrap(), rx6.local_addr().unwrap());
        let tx4 = socket("127.0.0.1");
        let tx6 = UdpSocket::bind("[::1]:0").unwrap();
        let mut batch = RecvBatch::new(64, 0, 0);
        for _ in 0..2 {
            tx4.send_to(b"v4", l4).unwrap();
            assert_eq!(batch.recv(&rx4, l4).unwrap(), 1);
            assert_eq!(
                batch.datagram(0),
                Some((tx4.local_addr().unwrap(), &b"v4"[..]))
            );
            tx6.send_to(b"v6", l6).unwrap();
            assert_eq!(batch.recv(&rx6, l6).unwrap(), 1);
            assert_eq!(
                batch.datagram(0),
                Some((tx6.local_addr().unwrap(), &b"v6"[..]))
            );
        }
    }
}
