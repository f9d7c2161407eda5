#!/usr/bin/env python3
"""Hold N server-sent-event streams open and say how many are being served.

    sse_client.py --port P [--host H] [--path /sse] [--streams 500] [--max-seconds S]

Opens --streams connections at once, sends one `GET PATH` on each and reads
the answers (asyncio, raw sockets: no HTTP library between the bytes and the
count). Every 0.5 s it prints one JSON line on stdout:

    {"t": seconds since start, "streams": N, "connected": TCP connections
     open, "answered": streams whose 200 response head came, "receiving":
     streams with an event (a "data:" line) in the last RECEIVING_S seconds,
     "events": events so far, "closed": streams the server closed,
     "failed": connections that failed (refused, reset, timed out),
     "status": {status: count} of the response heads}

It ends, closing every socket, on SIGTERM or SIGINT or after --max-seconds
(a time box of its own, should the caller die), printing a last line with
"final": true (the counts just before it closed the sockets). A stream that waits for its response head (a server with
fewer threads than streams leaves it in a queue) counts as connected, not
answered; that is the point of the count.
"""

import argparse
import asyncio
import json
import signal
import sys
import time

RECEIVING_S = 2.0  # the route sends one event a second: a served stream has one in any 2 s
CONNECT_TIMEOUT = 10.0


class Stats:
    def __init__(self, n):
        self.n = n
        self.connected = self.answered = self.closed = self.failed = self.events = 0
        self.status = {}
        self.last_event = {}  # stream index -> monotonic time of its last event
        self.t0 = time.monotonic()

    def line(self, final=False):
        now = time.monotonic()
        receiving = sum(1 for t in self.last_event.values() if now - t <= RECEIVING_S)
        d = {
            "t": round(now - self.t0, 2), "streams": self.n, "connected": self.connected,
            "answered": self.answered, "receiving": receiving, "events": self.events,
            "closed": self.closed, "failed": self.failed, "status": self.status,
        }  # fmt: skip
        if final:
            d["final"] = True
        return json.dumps(d)


async def stream(i, host, port, path, st):
    writer = None
    connected = False
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
        connected = True
        st.connected += 1
        writer.write(
            ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n" % (path, host, port)).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        parts = head.split(b" ", 2)
        code = parts[1].decode("latin-1") if len(parts) > 1 else "?"
        st.status[code] = st.status.get(code, 0) + 1
        if code != "200":
            return
        st.answered += 1
        tail = b""
        while True:
            data = await reader.read(65536)
            if not data:
                st.closed += 1
                return
            buf = tail + data
            n = buf.count(b"data:")  # one per event; the 4-byte tail cannot hold a whole one
            if n:
                st.events += n
                st.last_event[i] = time.monotonic()
            tail = buf[-4:]
    except asyncio.CancelledError:
        raise
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        if isinstance(e, asyncio.IncompleteReadError) and connected:
            st.closed += 1
        else:
            st.failed += 1
    finally:
        st.last_event.pop(i, None)
        if connected:
            st.connected -= 1
        if writer is not None:
            writer.transport.abort()  # close now, no FIN handshake wait


async def main(a):
    st = Stats(a.streams)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(stream(i, a.host, a.port, a.path, st)) for i in range(a.streams)]
    deadline = time.monotonic() + a.max_seconds
    while not stop.is_set() and time.monotonic() < deadline:
        print(st.line(), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    last = st.line(final=True)  # the state before closing
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(last, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/sse")
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--max-seconds", type=float, default=120)
    return p.parse_args(argv)


if __name__ == "__main__":
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except Exception:
        pass
    asyncio.run(main(parse_args(sys.argv[1:])))
