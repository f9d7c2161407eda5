#!/usr/bin/env python3
"""An HTTP/3 client on aioquic, for pogo's tests: a client pogo did not write.

    h3client.py --ca CA.pem HOST PORT METHOD:PATH[:BODY_BYTES] ...

Makes the requests in order on one QUIC connection and prints one JSON
line per response: {"status": N, "headers": {name: value}, "body": text,
"chunks": number of DATA frames}. A request with BODY_BYTES sends that many
"x" bytes as its body. Exits 1 with the error on stderr if any fails.
"""

import argparse
import asyncio
import json
import sys

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.waiting = {}  # stream id -> (future, events)

    def quic_event_received(self, event):
        for ev in self.http.handle_event(event):
            if isinstance(ev, (HeadersReceived, DataReceived)) and ev.stream_id in self.waiting:
                fut, events = self.waiting[ev.stream_id]
                events.append(ev)
                if ev.stream_ended:
                    del self.waiting[ev.stream_id]
                    fut.set_result(events)

    async def request(self, authority, method, path, body):
        sid = self._quic.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
                   (b":path", path.encode()), (b"user-agent", b"aioquic")]
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        self.http.send_headers(sid, headers, end_stream=not body)
        if body:
            self.http.send_data(sid, body, end_stream=True)
        fut = self._loop.create_future()
        self.waiting[sid] = (fut, [])
        self.transmit()
        events = await asyncio.wait_for(fut, 20)
        out = {"status": 0, "headers": {}, "body": b"", "chunks": 0}
        for ev in events:
            if isinstance(ev, HeadersReceived):
                for k, v in ev.headers:
                    if k == b":status":
                        out["status"] = int(v)
                    else:
                        out["headers"][k.decode()] = v.decode()
            elif ev.data:
                out["body"] += ev.data
                out["chunks"] += 1
        out["body"] = out["body"].decode("utf-8", "replace")
        return out


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ca", required=True)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("requests", nargs="+")
    a = p.parse_args()
    conf = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    conf.load_verify_locations(a.ca)
    async with connect(a.host, a.port, configuration=conf, create_protocol=Client) as client:
        for r in a.requests:
            method, path, *size = r.split(":")
            body = b"x" * int(size[0]) if size else b""
            print(json.dumps(await client.request("%s:%d" % (a.host, a.port), method, path, body)), flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    except Exception as e:
        print("h3client: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
