#!/usr/bin/env python3
"""mock_openai.py: a mock OpenAI Chat Completions server for benchmarks (standard library only).

  POST /v1/chat/completions  answers after DELAY_MS (default 100) with a chat.completion body:
                             id, object, created, model (the request's, else gpt-4o),
                             choices[0].message.content "Hello, welcome!", finish_reason "stop",
                             usage prompt/completion/total tokens.
  GET  /count                the number of chat completion requests answered so far, as JSON
                             {"requests": N, "in_flight": N, "max_in_flight": N}
  POST /reset                sets the counters to 0
  GET  /healthz              200 "ok"

HTTP/1.1 with keep-alive (Content-Length bodies, chunked request bodies too), any number of
concurrent connections (asyncio: one task per connection, the delay is an asyncio.sleep, so
the delays of concurrent requests overlap). Listens on 127.0.0.1 only.

Usage:  scripts/mock_openai.py [--port PORT] [--delay-ms MS] [--port-file FILE]
        PORT 0 (the default) picks a free port; the bound port is printed on stdout as
        "listening 127.0.0.1:PORT" and, with --port-file, written to FILE.
Environment: DELAY_MS, MOCK_PORT (overridden by the flags).
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time

STATE = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "started": 0}
MAX_BODY = 8 * 1024 * 1024


def completion_body(request_body: bytes, n: int) -> bytes:
    model = "gpt-4o"
    try:
        parsed = json.loads(request_body or b"{}")
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
            model = parsed["model"]
    except ValueError:
        pass
    body = {
        "id": f"chatcmpl-mock{n:08d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello, welcome!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    return json.dumps(body).encode()


def response(status: int, reason: str, body: bytes, keep_alive: bool,
             content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    )
    return head.encode() + body


async def read_body(reader: asyncio.StreamReader, headers: dict) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        total = 0
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # trailers until the empty line
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise ValueError("body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readline()
    length = int(headers.get("content-length", "0") or "0")
    if length > MAX_BODY:
        raise ValueError("body too large")
    return await reader.readexactly(length) if length else b""


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float):
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                return
            if request_line in (b"\r\n", b"\n"):
                continue
            try:
                method, target, version = request_line.decode("latin-1").split()
            except ValueError:
                writer.write(response(400, "Bad Request", b'{"error":"bad request line"}', False))
                await writer.drain()
                return
            headers = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await read_body(reader, headers)
            conn = headers.get("connection", "").lower()
            keep_alive = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")
            path = target.split("?", 1)[0]

            if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                STATE["in_flight"] += 1
                STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
                try:
                    await asyncio.sleep(delay)
                finally:
                    STATE["in_flight"] -= 1
                STATE["requests"] += 1
                out = response(200, "OK", completion_body(body, STATE["requests"]), keep_alive)
            elif method == "GET" and path == "/count":
                out = response(200, "OK", json.dumps({k: STATE[k] for k in
                                                      ("requests", "in_flight", "max_in_flight")}).encode(),
                               keep_alive)
            elif method == "POST" and path == "/reset":
                STATE["requests"] = 0
                STATE["max_in_flight"] = STATE["in_flight"]
                out = response(200, "OK", b'{"reset":true}', keep_alive)
            elif method == "GET" and path == "/healthz":
                out = response(200, "OK", b"ok", keep_alive, "text/plain")
            else:
                out = response(404, "Not Found",
                               json.dumps({"error": {"message": f"no route {method} {path}",
                                                     "type": "invalid_request_error"}}).encode(),
                               keep_alive)
            writer.write(out)
            await writer.drain()
            if not keep_alive:
                return
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        return
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a dead socket
            pass


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOCK_PORT", "0")))
    parser.add_argument("--delay-ms", type=float, default=float(os.environ.get("DELAY_MS", "100")))
    parser.add_argument("--port-file")
    args = parser.parse_args()
    delay = max(args.delay_ms, 0.0) / 1000.0
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), "127.0.0.1", args.port,
                                        backlog=1024, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(f"listening 127.0.0.1:{port} delay_ms={args.delay_ms:g}", flush=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with server:
        await stop


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
