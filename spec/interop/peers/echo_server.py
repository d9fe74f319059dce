"""python-websockets server peer for spec/interop/python-websockets.spec.ts.

Listens on 127.0.0.1 (port 0) and prints one JSON line per event on stdout:
  {"event": "listening", "port": N}
  {"event": "open", "id": n, "path": "/echo", "extensions": ["permessage-deflate"]}
  {"event": "closed", "id": n, "code": 4001, "reason": "..."}
What a connection does depends on its path:
  /echo                        echo every message (text stays text, binary stays binary)
  /close?code=C&reason=R       close at once with C and R
  /ping?data=D                 ping with payload D, wait for the pong, send text "pong:D", then echo
Run with the system interpreter (Debian's python3-websockets, asyncio API of 10.x):
  /usr/bin/python3 echo_server.py --compression deflate|none
"""
import argparse
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlsplit

import websockets


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


counter = 0


async def handler(ws):
    global counter
    counter += 1
    cid = counter
    url = urlsplit(ws.path)
    query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    emit({"event": "open", "id": cid, "path": url.path,
          "extensions": [e.name for e in ws.extensions]})
    try:
        if url.path == "/close":
            await ws.close(int(query["code"]), query.get("reason", ""))
        else:
            if url.path == "/ping":
                data = query.get("data", "")
                pong = await ws.ping(data)
                await asyncio.wait_for(pong, 10)
                await ws.send("pong:" + data)
            async for message in ws:
                await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        emit({"event": "closed", "id": cid, "code": ws.close_code, "reason": ws.close_reason})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = parser.parse_args()
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        compression="deflate" if args.compression == "deflate" else None,
        max_size=64 * 1024 * 1024,
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"event": "listening", "port": port})
        # Serve until stdin closes: the spec ends the peer by closing the pipe
        # (or killing it), so a crashed test run never leaves it behind.
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while await reader.read(4096):
            pass


if __name__ == "__main__":
    asyncio.run(main())
