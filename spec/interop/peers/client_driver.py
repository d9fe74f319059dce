"""python-websockets client peer for spec/interop/python-websockets.spec.ts.

A line-oriented remote control: one JSON command per line on stdin, one JSON
reply per line on stdout, in order. Payloads travel as base64.
  {"op": "connect", "url": "ws://...", "compression": "deflate"|"none"}
      -> {"ok": true, "extensions": [...]}
  {"op": "send", "type": "text"|"binary", "data": b64}  -> {"ok": true}
  {"op": "recv"}                                       -> {"type": ..., "data": b64}
  {"op": "ping", "data": str}  (waits for the pong)    -> {"ok": true}
  {"op": "close", "code": C, "reason": R}              -> {"ok": true, "code": ..., "reason": ...}
  {"op": "wait_closed"}                                -> {"code": ..., "reason": ...}
Any failure replies {"error": "...", "closed": bool, "code": ..., "reason": ...}.
The process exits when stdin closes.
Run with the system interpreter: /usr/bin/python3 client_driver.py
"""
import asyncio
import base64
import json
import sys

import websockets

TIMEOUT = 15


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run(cmd, state):
    op = cmd["op"]
    ws = state.get("ws")
    if op == "connect":
        ws = await asyncio.wait_for(websockets.connect(
            cmd["url"],
            compression="deflate" if cmd.get("compression", "deflate") == "deflate" else None,
            max_size=64 * 1024 * 1024,
            ping_interval=None,
        ), TIMEOUT)
        state["ws"] = ws
        return {"ok": True, "extensions": [e.name for e in ws.extensions]}
    if op == "send":
        data = base64.b64decode(cmd["data"])
        await asyncio.wait_for(ws.send(data.decode("utf-8") if cmd["type"] == "text" else data), TIMEOUT)
        return {"ok": True}
    if op == "recv":
        message = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if isinstance(message, str):
            return {"type": "text", "data": base64.b64encode(message.encode("utf-8")).decode("ascii")}
        return {"type": "binary", "data": base64.b64encode(message).decode("ascii")}
    if op == "ping":
        pong = await ws.ping(cmd.get("data", ""))
        await asyncio.wait_for(pong, TIMEOUT)
        return {"ok": True}
    if op == "close":
        await asyncio.wait_for(ws.close(cmd["code"], cmd.get("reason", "")), TIMEOUT)
        return {"ok": True, "code": ws.close_code, "reason": ws.close_reason}
    if op == "wait_closed":
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        return {"code": ws.close_code, "reason": ws.close_reason}
    raise ValueError("unknown op " + repr(op))


async def main():
    loop = asyncio.get_running_loop()
    # Lines carry base64 of up to a few MiB: raise the 64 KiB default limit.
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    state = {}
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            result = await run(json.loads(line), state)
        except Exception as e:  # reported to the spec, which decides
            ws = state.get("ws")
            result = {
                "error": type(e).__name__ + ": " + str(e),
                "closed": isinstance(e, websockets.ConnectionClosed),
                "code": ws.close_code if ws is not None else None,
                "reason": ws.close_reason if ws is not None else None,
            }
        reply(result)
    ws = state.get("ws")
    if ws is not None:
        ws.transport.abort()


if __name__ == "__main__":
    asyncio.run(main())
