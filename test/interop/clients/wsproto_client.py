#!/usr/bin/env python3
"""Interop client for test/interop/python.test.ts, on the sans-IO `wsproto` library over a
plain blocking socket.

Usage: python3 wsproto_client.py PORT

Runs a few scenarios against the wsactor interop echo server on 127.0.0.1:PORT (each on its
own connection, labelled with ?client=wsproto&case=NAME for the server's hook trace) and
prints ONE line of JSON with what it observed. It asserts nothing itself: the TypeScript
test does. An exception inside a scenario is reported as {"error": ...} for that scenario.
"""
import hashlib
import json
import os
import socket
import struct
import sys
import traceback
from collections import deque

try:
    import wsproto
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                                RejectConnection, Request, TextMessage)
    from wsproto.extensions import PerMessageDeflate
    from wsproto.frame_protocol import CloseReason
except ImportError as error:  # the TS test checks this first; this is a fallback
    print(json.dumps({"fatal": f"cannot import wsproto ({error}); run `npm run setup`"}))
    sys.exit(3)

CLIENT = "wsproto"
TIMEOUT = 10.0


def digest(data):
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return hashlib.sha256(raw).hexdigest()


def kind(data):
    return "text" if isinstance(data, str) else "binary"


class Client:
    """A blocking WebSocket client: wsproto for the protocol, a socket for the bytes."""

    def __init__(self, port, case, extensions=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.events = deque()
        self.eof = False
        self.auto_pongs = 0
        self.send(Request(host=f"127.0.0.1:{port}", target=f"/?client={CLIENT}&case={case}",
                          extensions=extensions or []))
        event = self.next_event()
        if isinstance(event, RejectConnection):
            raise RuntimeError(f"handshake rejected with {event.status_code}")
        if not isinstance(event, AcceptConnection):
            raise RuntimeError(f"unexpected handshake event {event!r}")
        self.accept = event

    def send(self, event):
        self.sock.sendall(self.ws.send(event))

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            self.ws.receive_data(None)
        else:
            self.ws.receive_data(data)
        for event in self.ws.events():
            # The server's heartbeat may ping an idle client: answer, as a browser would.
            if isinstance(event, Ping):
                self.auto_pongs += 1
                self.send(event.response())
                continue
            self.events.append(event)

    def next_event(self):
        while not self.events:
            if self.eof:
                raise EOFError("connection ended with no further event")
            self._fill()
        return self.events.popleft()

    def recv_message(self):
        """The next whole data message (wsproto hands big ones over in pieces)."""
        parts = []
        while True:
            event = self.next_event()
            if isinstance(event, (TextMessage, BytesMessage)):
                parts.append(event.data)
                if event.message_finished:
                    return "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
            else:
                raise RuntimeError(f"expected a message, got {event!r}")

    def send_message(self, data, fragments=1):
        """Sends data as one message in `fragments` frames (continuation frames after the first)."""
        size = max(1, -(-len(data) // fragments))
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [data]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            event = TextMessage(data=chunk, message_finished=last) if isinstance(data, str) \
                else BytesMessage(data=chunk, message_finished=last)
            self.send(event)

    def roundtrip(self, payload, fragments=1):
        self.send_message(payload, fragments)
        echoed = self.recv_message()
        return {
            "sentType": kind(payload),
            "receivedType": kind(echoed),
            "sentLength": len(payload),
            "receivedLength": len(echoed),
            "fragments": fragments,
            "same": kind(payload) == kind(echoed) and digest(payload) == digest(echoed),
        }

    def wait_eof(self):
        """Reads until the server ends the TCP connection; True if it did."""
        try:
            while not self.eof:
                self._fill()
            return True
        except (socket.timeout, ConnectionError):
            return False

    def close_socket(self):
        self.sock.close()


def raw_frame_header(opcode, length, fin=True):
    """A masked client frame header announcing `length` payload bytes (RFC 6455 5.2)."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + os.urandom(4)


def raw_frame(opcode, payload, fin=True):
    header = raw_frame_header(opcode, len(payload), fin)
    mask = header[-4:]
    return header + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def server_close_report(client):
    """Reads until the server's close frame; what it said and whether it ended TCP."""
    event = client.next_event()
    report = {"event": type(event).__name__, "code": getattr(event, "code", None),
              "reason": getattr(event, "reason", None)}
    report["serverEndedTcp"] = client.wait_eof()
    return report


def case_echo(port):
    """Text, binary, empty, fragmented and large messages, ping/pong, client close 4000."""
    client = Client(port, "echo")
    result = {"extensions": [ext.name for ext in client.accept.extensions]}
    try:
        result["text"] = client.roundtrip("hello wsactor \u2713 \U0001F680")
        result["binary"] = client.roundtrip(bytes(range(256)))
        result["emptyText"] = client.roundtrip("")
        result["emptyBinary"] = client.roundtrip(b"")
        result["fragmentedText"] = client.roundtrip("fragmented \u00e9 " * 100, fragments=5)
        result["fragmentedBinary"] = client.roundtrip(os.urandom(10_000), fragments=7)
        result["largeText"] = client.roundtrip("0123456789abcdef" * 32_000)  # 512,000 bytes
        result["largeBinary"] = client.roundtrip(os.urandom(500 * 1024))
        payload = b"wsproto-ping\x00\x01\xfe\xff"
        client.send(Ping(payload=payload))
        event = client.next_event()
        result["ping"] = {
            "sent": payload.hex(),
            "event": type(event).__name__,
            "pong": event.payload.hex() if isinstance(event, Pong) else None,
        }
        result["afterPing"] = client.roundtrip("after ping")
        client.send(CloseConnection(code=4000, reason="wsproto done"))
        event = client.next_event()
        result["close"] = {
            "event": type(event).__name__,
            "code": getattr(event, "code", None),
            "reason": getattr(event, "reason", None),
            "state": client.ws.state.name,
            "serverEndedTcp": client.wait_eof(),
        }
        result["autoPongs"] = client.auto_pongs
    finally:
        client.close_socket()
    return result


def case_server_close(port):
    """The server closes with 4001 'bye' when asked; we answer its close frame."""
    client = Client(port, "server-close")
    result = {}
    try:
        client.send(TextMessage(data="close:4001:bye"))
        event = client.next_event()
        result["event"] = type(event).__name__
        if isinstance(event, CloseConnection):
            result["code"] = event.code
            result["reason"] = event.reason
            result["stateBeforeReply"] = client.ws.state.name
            client.send(event.response())
            result["stateAfterReply"] = client.ws.state.name
            result["serverEndedTcp"] = client.wait_eof()
    finally:
        client.close_socket()
    return result


def case_deflate(port):
    """permessage-deflate offered by wsproto (with window bits); 100 KB compressible messages."""
    client = Client(port, "deflate", extensions=[PerMessageDeflate()])
    result = {"extensions": [ext.name for ext in client.accept.extensions]}
    try:
        accepted = next((ext for ext in client.accept.extensions if isinstance(ext, PerMessageDeflate)), None)
        if accepted is not None:
            result["clientMaxWindowBits"] = accepted.client_max_window_bits
            result["serverMaxWindowBits"] = accepted.server_max_window_bits
        line = "wsproto says hello to wsactor; " * 4 + "\n"
        result["compressibleText"] = client.roundtrip((line * (100_000 // len(line) + 1))[:100_000])
        result["compressibleBinary"] = client.roundtrip(b"\x00\x01\x02\x03" * 25_000, fragments=3)
        result["smallText"] = client.roundtrip("tiny")
        client.send(CloseConnection(code=1000, reason="deflate done"))
        event = client.next_event()
        result["close"] = {"event": type(event).__name__, "code": getattr(event, "code", None)}
        result["serverEndedTcp"] = client.wait_eof()
    finally:
        client.close_socket()
    return result


def case_no_status_close(port):
    """An empty close frame (no status code): onClose sees 1005; the server answers in kind."""
    client = Client(port, "no-status")
    try:
        client.send(CloseConnection(code=CloseReason.NO_STATUS_RCVD))
        return server_close_report(client)
    finally:
        client.close_socket()


def case_abort(port):
    """TCP ends with no close frame after one echo: onClose sees 1006."""
    client = Client(port, "abort")
    result = {"echo": client.roundtrip("last words")}
    client.sock.shutdown(socket.SHUT_RDWR)
    client.close_socket()
    return result


def case_bad_utf8(port):
    """A text frame that is not UTF-8: the server closes with 1007."""
    client = Client(port, "bad-utf8")
    try:
        client.sock.sendall(raw_frame(0x1, b"ok \xc3\x28 not utf-8"))
        return server_close_report(client)
    finally:
        client.close_socket()


def case_too_big(port):
    """A frame header announcing 3 MiB (over maxPayload): the server closes with 1009 at once."""
    client = Client(port, "too-big")
    try:
        client.sock.sendall(raw_frame_header(0x2, 3 * 1024 * 1024) + b"\x00" * 16)
        return server_close_report(client)
    finally:
        client.close_socket()


def main(port):
    out = {"client": CLIENT, "version": getattr(wsproto, "__version__", "?"), "python": sys.version.split()[0]}
    cases = (("echo", case_echo), ("serverClose", case_server_close), ("deflate", case_deflate),
             ("noStatusClose", case_no_status_close), ("abort", case_abort), ("badUtf8", case_bad_utf8),
             ("tooBig", case_too_big))
    for name, case in cases:
        try:
            out[name] = case(port)
        except Exception as error:  # reported, asserted on by the TS test
            out[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: wsproto_client.py PORT", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(main(int(sys.argv[1]))))
