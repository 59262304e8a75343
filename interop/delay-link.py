"""A point-to-point link with a fixed one-way delay, for `cargo xtask bench --peers ice`.

Usage: python3 delay-link.py NAME_A NAME_B --delay-ms D [--lifetime S]

Makes two TUN devices, NAME_A and NAME_B (the harness then moves each into its own network
namespace and gives it an address), and copies every IP packet read from one into the other
`--delay-ms` later, in order. It stands in for `tc qdisc add dev lo root netem delay D` on
kernels built without netem. Prints `ready` once both devices exist; when it exits (killed, or
--lifetime over) the devices go with it. Standard library only.
"""

import argparse
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name_a")
    parser.add_argument("name_b")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--lifetime", type=float, default=600.0)
    args = parser.parse_args()
    delay = args.delay_ms / 1000.0
    a, b = tun(args.name_a), tun(args.name_b)
    other = {a: b, b: a}
    print("ready", flush=True)
    end = time.monotonic() + args.lifetime
    # (due, sequence, output fd, packet): the sequence keeps equal due times in order.
    queue = []
    seq = 0
    forwarded = 0
    held = 0.0
    while time.monotonic() < end:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            due, _, fd, packet = heapq.heappop(queue)
            try:
                os.write(fd, packet)
                forwarded += 1
                held += time.monotonic() - due + delay
            except OSError:
                pass
        timeout = min(0.5, max(0.0, queue[0][0] - now)) if queue else 0.5
        readable, _, _ = select.select([a, b], [], [], timeout)
        for fd in readable:
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    return 1
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, other[fd], packet))
    if forwarded:
        print(f"forwarded {forwarded} packets, held {held / forwarded * 1e3:.2f} ms on average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
