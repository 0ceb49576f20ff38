#!/usr/bin/env python3
"""permessage-deflate shapes for test/integration/deflate.test.ts, on the asyncio `websockets`.

Usage: python3 websockets_deflate_shapes.py ws://127.0.0.1:PORT/ BROADCAST_SIZE

Connects once per shape (a permessage-deflate offer configured as below), labelled
?tag=SHAPE, and on each connection: round-trips a 60 KB text, a 60 KB binary and a small
text message (the server echoes), asks the server to broadcast BROADCAST_SIZE bytes
("broadcast:N") and receives it, then closes. Prints ONE line of JSON: per shape the offer,
the server's answer, what websockets negotiated and what it saw. Asserts nothing itself.
Client windows of 8 are left out: Python's zlib cannot compress with a 2^8 raw window.
"""
import asyncio
import hashlib
import json
import sys
import traceback

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory as Factory

TIMEOUT = 10.0
SIZE = 60_000

SHAPES = {
    "default": [Factory()],  # client_max_window_bits without a value
    "noClientMaxWindowBits": [Factory(client_max_window_bits=None)],
    "serverWindow8": [Factory(server_max_window_bits=8)],
    "serverWindow10": [Factory(server_max_window_bits=10)],
    "serverWindow12": [Factory(server_max_window_bits=12)],
    "serverWindow15": [Factory(server_max_window_bits=15)],
    "clientWindow9": [Factory(client_max_window_bits=9)],
    "noContextTakeover": [Factory(server_no_context_takeover=True, client_no_context_takeover=True)],
    "everything": [Factory(server_no_context_takeover=True, client_no_context_takeover=True,
                           server_max_window_bits=9, client_max_window_bits=11)],
    "twoOffers": [Factory(server_max_window_bits=10), Factory()],
}


def ticks(size):
    """The same text as ticks() in deflate.test.ts."""
    parts = []
    length = 0
    seq = 0
    while length < size:
        price = (seq % 97) + 100.25
        line = '{"type":"tick","symbol":"WSA","seq":%d,"price":%s}\n' % (seq, repr(price))
        parts.append(line)
        length += len(line)
        seq += 1
    return "".join(parts)[:size]


def header(ws, name):
    headers = getattr(ws, "response_headers", None) or getattr(getattr(ws, "response", None), "headers", None)
    return None if headers is None else headers.get(name)


def request_header(ws, name):
    headers = getattr(ws, "request_headers", None) or getattr(getattr(ws, "request", None), "headers", None)
    return None if headers is None else headers.get(name)


async def roundtrip(ws, payload):
    await asyncio.wait_for(ws.send(payload), TIMEOUT)
    echoed = await asyncio.wait_for(ws.recv(), TIMEOUT)
    return type(echoed) is type(payload) and echoed == payload


async def shape(base, name, extensions, broadcast_size):
    sep = "&" if "?" in base else "?"
    async with websockets.connect(f"{base}{sep}tag={name}", extensions=extensions, max_size=4 * 1024 * 1024,
                                  ping_interval=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        result = {
            "offer": request_header(ws, "Sec-WebSocket-Extensions"),
            "answer": header(ws, "Sec-WebSocket-Extensions"),
            "extensions": [
                {"name": ext.name, "local_max_window_bits": ext.local_max_window_bits,
                 "remote_max_window_bits": ext.remote_max_window_bits,
                 "local_no_context_takeover": ext.local_no_context_takeover,
                 "remote_no_context_takeover": ext.remote_no_context_takeover}
                for ext in ws.extensions
            ],
        }
        text = ticks(SIZE)
        result["roundtrips"] = [
            await roundtrip(ws, text),
            await roundtrip(ws, text[::-1].encode()),
            await roundtrip(ws, "tiny"),
        ]
        await ws.send(f"broadcast:{broadcast_size}")
        received = await asyncio.wait_for(ws.recv(), TIMEOUT)
        result["broadcast"] = hashlib.sha256(received.encode() if isinstance(received, str) else received).hexdigest()
        await ws.close(1000, "done")
        return result


async def main(base, broadcast_size):
    out = {}
    for name, extensions in SHAPES.items():  # one at a time: the broadcast reaches only this one
        try:
            out[name] = await shape(base, name, extensions, broadcast_size)
        except Exception as error:  # reported, asserted on by the TS test
            out[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: websockets_deflate_shapes.py ws://HOST:PORT/PATH BROADCAST_SIZE", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
