#!/usr/bin/env python3
"""Interop client for test/interop/python.test.ts, on the asyncio `websockets` library.

Usage: python3 websockets_client.py ws://127.0.0.1:PORT/

Runs a few scenarios against the wsactor interop echo server (each on its own connection,
labelled with ?client=websockets&case=NAME so the server's hook trace can be matched) and
prints ONE line of JSON with what it observed. It asserts nothing itself: the TypeScript
test does. An exception inside a scenario is reported as {"error": ...} for that scenario.
"""
import asyncio
import hashlib
import json
import os
import random
import sys
import traceback

try:
    import websockets
    from websockets.exceptions import ConnectionClosed
except ImportError as error:  # the TS test checks this first; this is a fallback
    print(json.dumps({"fatal": f"cannot import websockets ({error}); run `npm run setup`"}))
    sys.exit(3)

CLIENT = "websockets"
TIMEOUT = 10.0
MAX_SIZE = 4 * 1024 * 1024


def digest(data):
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return hashlib.sha256(raw).hexdigest()


def kind(data):
    return "text" if isinstance(data, str) else "binary"


def close_info(ws):
    """What this side received and sent in the closing handshake (websockets 10+)."""
    rcvd = getattr(ws, "close_rcvd", None)
    sent = getattr(ws, "close_sent", None)
    return {
        "received": None if rcvd is None else {"code": rcvd.code, "reason": rcvd.reason},
        "sent": None if sent is None else {"code": sent.code, "reason": sent.reason},
        # True: the peer closed first; False: we did.
        "receivedFirst": getattr(ws, "close_rcvd_then_sent", None),
    }


def url_for(base, case):
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}client={CLIENT}&case={case}"


async def roundtrip(ws, payload):
    await asyncio.wait_for(ws.send(payload), TIMEOUT)
    echoed = await asyncio.wait_for(ws.recv(), TIMEOUT)
    return {
        "sentType": kind(payload),
        "receivedType": kind(echoed),
        "sentLength": len(payload),
        "receivedLength": len(echoed),
        "same": kind(payload) == kind(echoed) and digest(payload) == digest(echoed),
    }


def extension_info(ws):
    out = []
    for ext in ws.extensions:
        entry = {"name": ext.name}
        for attr in ("local_max_window_bits", "remote_max_window_bits",
                     "local_no_context_takeover", "remote_no_context_takeover"):
            if hasattr(ext, attr):
                entry[attr] = getattr(ext, attr)
        out.append(entry)
    return out


def response_header(ws, name):
    headers = getattr(ws, "response_headers", None)
    if headers is None:  # websockets >= 14 (new asyncio implementation)
        response = getattr(ws, "response", None)
        headers = getattr(response, "headers", None)
    return None if headers is None else headers.get(name)


async def case_echo(base):
    """Text, binary, empty, large (500 KB) messages, ping/pong, client close 4000."""
    rng = random.Random(4000)
    result = {}
    async with websockets.connect(url_for(base, "echo"), compression=None, max_size=MAX_SIZE,
                                  ping_interval=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        result["extensions"] = extension_info(ws)
        result["text"] = await roundtrip(ws, "hello wsactor \u2713 \u00fcn\u00efc\u00f6d\u00e9 \U0001F680")
        result["binary"] = await roundtrip(ws, bytes(range(256)))
        result["emptyText"] = await roundtrip(ws, "")
        result["emptyBinary"] = await roundtrip(ws, b"")
        letters = "abcdefghijklmnopqrstuvwxyz0123456789\u00e9\u4e2d"
        big_text = "".join(rng.choice(letters) for _ in range(500_000))
        result["largeText"] = await roundtrip(ws, big_text)
        result["largeBinary"] = await roundtrip(ws, os.urandom(500 * 1024))
        # A ping with a payload: websockets resolves the waiter only for a pong carrying
        # exactly that payload (its pings are keyed by payload).
        payload = b"py-ping\x00\xff" + os.urandom(8)
        waiter = await ws.ping(payload)
        try:
            latency = await asyncio.wait_for(waiter, TIMEOUT)
            result["ping"] = {"payloadLength": len(payload), "pongMatched": True, "latencyMs": latency * 1000}
        except asyncio.TimeoutError:
            result["ping"] = {"payloadLength": len(payload), "pongMatched": False}
        # The connection still echoes after the ping (control frames don't disturb data).
        result["afterPing"] = await roundtrip(ws, "after ping")
        await ws.close(4000, "client done")
        result["close"] = close_info(ws)
    return result


async def case_server_close(base):
    """The server closes with 4001 'bye' when asked; the client sees code and reason."""
    result = {}
    async with websockets.connect(url_for(base, "server-close"), ping_interval=None,
                                  open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        await ws.send("close:4001:bye")
        try:
            extra = await asyncio.wait_for(ws.recv(), TIMEOUT)
            result["unexpectedMessage"] = extra if isinstance(extra, str) else extra.hex()
        except ConnectionClosed:
            result["raisedConnectionClosed"] = True
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        result["close"] = close_info(ws)
    return result


async def case_deflate(base):
    """permessage-deflate as websockets negotiates it by default; 100 KB compressible messages."""
    result = {}
    async with websockets.connect(url_for(base, "deflate"), max_size=MAX_SIZE, ping_interval=None,
                                  open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        result["extensions"] = extension_info(ws)
        result["responseExtensions"] = response_header(ws, "Sec-WebSocket-Extensions")
        line = '{"type":"tick","symbol":"WSA","price":123.45,"ok":true}\n'
        text = (line * (100_000 // len(line) + 1))[:100_000]
        result["compressibleText"] = await roundtrip(ws, text)
        result["compressibleBinary"] = await roundtrip(ws, bytes(range(64)) * (100_000 // 64 + 1))
        result["smallText"] = await roundtrip(ws, "tiny")  # below the server's deflate threshold
        await ws.close(1000, "deflate done")
        result["close"] = close_info(ws)
    return result


async def case_parallel(base, count=4, messages=50):
    """Several connections at once; each gets back exactly its own messages, in order."""

    async def one(index):
        async with websockets.connect(url_for(base, f"parallel-{index}"), ping_interval=None,
                                      open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
            sent = [f"c{index}-m{j}-" + "x" * (j * 37) for j in range(messages)]
            for message in sent:
                await ws.send(message)
            received = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in sent]
            return received == sent

    results = await asyncio.gather(*(one(i) for i in range(count)))
    return {"connections": count, "messagesEach": messages, "allInOrder": all(results)}


async def main(base):
    out = {"client": CLIENT, "version": getattr(websockets, "__version__", "?"), "python": sys.version.split()[0]}
    cases = [("echo", case_echo), ("serverClose", case_server_close),
             ("deflate", case_deflate), ("parallel", case_parallel)]
    for name, case in cases:
        try:
            out[name] = await case(base)
        except Exception as error:  # reported, asserted on by the TS test
            out[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: websockets_client.py ws://HOST:PORT/PATH", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
