"""An aioice ICE agent driven by lines on stdin and stdout, for `cargo xtask interop aioice`.

The harness (xtask/src/interop/agent.rs) stands between this agent and `icebreaker peer`: it
turns icebreaker's SDP and JSON signalling into the lines below and back. aioice has no SDP of
its own, so only credentials and candidates cross.

Out (one per line): `credentials UFRAG PWD`, `candidate candidate:...`, `end-of-candidates`,
`state checking|connected|failed|closed`, `selected LOCAL -> REMOTE` (the pair aioice
nominated or accepted), `message DATA`, `error TEXT`, `log TEXT`.
In: `credentials UFRAG PWD`, `candidate candidate:...`, `end-of-candidates`, `send DATA`, `quit`,
`remote-lite` (before the credentials: the other side is ICE-lite, so take the controlling role).

Options: `--controlling`, `--turn HOST:PORT USER PASS`, `--turn-tcp` (reach the TURN server
over TCP), `--relay-only`, `--lifetime SECONDS`, `--host ADDR`. Host candidates are on 127.0.0.1 only (or on `--host`): aioice itself leaves
127.0.0.1 out of its host addresses, so the agent replaces that list with the loopback address.
"""

import argparse
import asyncio
import sys

import aioice
import aioice.ice

# Checks on loopback only: never the machine's other interfaces.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

# Longest line accepted on stdin (the harness sends short lines).
MAX_LINE = 64 * 1024


def emit(*words: str) -> None:
    print(" ".join(words), flush=True)


def describe(c: aioice.Candidate) -> str:
    return "candidate:" + c.to_sdp()


async def stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--controlling", action="store_true")
    parser.add_argument("--turn", nargs=3, metavar=("HOST:PORT", "USER", "PASS"))
    parser.add_argument("--turn-tcp", action="store_true")
    parser.add_argument("--relay-only", action="store_true")
    parser.add_argument("--lifetime", type=float, default=60.0)
    # The one host address to gather (cargo xtask bench --peers ice: the end of a delay link).
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.host]

    turn = {}
    if args.turn:
        host, _, port = args.turn[0].rpartition(":")
        turn = dict(
            turn_server=(host, int(port)),
            turn_username=args.turn[1],
            turn_password=args.turn[2],
            turn_transport="tcp" if args.turn_tcp else "udp",
        )
    policy = (
        aioice.TransportPolicy.RELAY if args.relay_only else aioice.TransportPolicy.ALL
    )
    conn = aioice.Connection(
        ice_controlling=args.controlling,
        components=1,
        use_ipv4=True,
        use_ipv6=False,
        transport_policy=policy,
        **turn,
    )
    emit("credentials", conn.local_username, conn.local_password)
    await conn.gather_candidates()
    for c in conn.local_candidates:
        emit("candidate", describe(c))
    emit("end-of-candidates")

    have_credentials = asyncio.Event()
    connected = asyncio.Event()
    done = asyncio.Event()

    async def connect() -> None:
        await have_credentials.wait()
        emit("state", "checking")
        try:
            await conn.connect()
        except ConnectionError as e:
            emit("state", "failed")
            emit("error", str(e))
            return
        # aioice keeps the nominated pair per component in a private map (aiortc reads the
        # same map for its selected pair); it is the only place the pair is told.
        pair = conn._nominated.get(1)
        emit("state", "connected")
        if pair is not None:
            emit(
                "selected",
                describe(pair.local_candidate),
                "->",
                describe(pair.remote_candidate),
            )
        connected.set()
        while True:
            try:
                data = await conn.recv()
            except ConnectionError:
                emit("state", "closed")
                return
            emit("message", data.decode("utf-8", "replace"))

    async def commands() -> None:
        reader = await stdin_lines()
        while True:
            try:
                raw = await reader.readline()
            except ValueError:
                emit("error", "line over the limit ignored")
                continue
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            word, _, rest = line.partition(" ")
            try:
                if word == "remote-lite":
                    # RFC 8445 section 6.1.1: the full agent controls a lite one.
                    conn.remote_is_lite = True
                    conn.ice_controlling = True
                elif word == "credentials":
                    ufrag, pwd = rest.split()
                    conn.remote_username, conn.remote_password = ufrag, pwd
                    have_credentials.set()
                elif word == "candidate":
                    text = rest.strip()
                    if text.startswith("a="):
                        text = text[2:]
                    if text.startswith("candidate:"):
                        text = text[len("candidate:") :]
                    await conn.add_remote_candidate(aioice.Candidate.from_sdp(text))
                elif word == "end-of-candidates":
                    await conn.add_remote_candidate(None)
                elif word == "send":
                    if not connected.is_set():
                        emit("error", "cannot send: not connected")
                    else:
                        await conn.send(rest.encode("utf-8"))
                elif word == "quit":
                    break
                elif line.strip():
                    emit("error", f"unknown command {word!r}")
            except (ValueError, ConnectionError) as e:
                emit("error", f"{word}: {e}")
        done.set()

    tasks = [asyncio.create_task(connect()), asyncio.create_task(commands())]
    try:
        await asyncio.wait_for(done.wait(), timeout=args.lifetime)
    except asyncio.TimeoutError:
        emit("log", "lifetime over")
    for t in tasks:
        t.cancel()
    await conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
