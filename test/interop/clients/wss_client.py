#!/usr/bin/env python3
"""wss:// client for test/interop/tls.test.ts, on the asyncio `websockets` library.

Usage: python3 wss_client.py wss://127.0.0.1:PORT/ CAFILE

Verifies the server's certificate against CAFILE (the test's self-signed certificate) and its
host name, echoes a text and a binary message, closes with 1000, and prints ONE line of JSON
with what it saw (including the SHA-256 fingerprint of the certificate the server showed).
"""
import asyncio
import hashlib
import json
import ssl
import sys

try:
    import websockets
except ImportError as error:
    print(json.dumps({"fatal": f"cannot import websockets ({error}); run `npm run setup`"}))
    sys.exit(3)

TIMEOUT = 10.0


def fingerprint(der):
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


async def main(url, cafile):
    context = ssl.create_default_context(cafile=cafile)
    out = {}
    async with websockets.connect(f"{url}?client=python&case=wss", ssl=context, open_timeout=TIMEOUT) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        out["tlsVersion"] = tls.version()
        out["fingerprint256"] = fingerprint(tls.getpeercert(binary_form=True))
        await ws.send("hello over tls")
        out["text"] = await asyncio.wait_for(ws.recv(), TIMEOUT)
        await ws.send(bytes(range(256)) * 4)
        echoed = await asyncio.wait_for(ws.recv(), TIMEOUT)
        out["binary"] = {"type": "binary" if isinstance(echoed, bytes) else "text", "size": len(echoed),
                         "same": echoed == bytes(range(256)) * 4}
        await ws.close(1000, "done")
        out["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    # The same client, refusing a certificate it does not trust: the handshake must fail.
    try:
        async with websockets.connect(url, ssl=ssl.create_default_context(), open_timeout=TIMEOUT):
            out["untrusted"] = "connected"
    except ssl.SSLCertVerificationError as error:
        out["untrusted"] = f"refused: {error.verify_message}"
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
