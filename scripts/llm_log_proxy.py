#!/usr/bin/env python3
"""A tiny logging HTTP proxy for e2e-real.sh: forwards every request to UPSTREAM unchanged and
appends one JSON line per exchange to LOG (method, path, request headers with credentials
redacted, request body, status, response headers and body, milliseconds).

It exists to show, when one of the service's provider clients fails against llama-server,
exactly what the service sent and what llama-server answered.

    llm_log_proxy.py --upstream http://127.0.0.1:PORT --log FILE [--port 0] [--port-file F]

Listens on 127.0.0.1 only. Standard library only. Not streaming-aware: a streamed answer is
logged (and relayed) once complete.
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "host", "content-length"}
SECRET = {"authorization", "x-api-key", "x-goog-api-key", "api-key"}


def body_for_log(raw: bytes):
    try:
        return json.loads(raw)
    except Exception:  # noqa: BLE001 - not JSON: keep the text
        return raw.decode("utf-8", "replace")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: urllib.parse.SplitResult
    log_file = None
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def _handle(self):
        t0 = time.monotonic()
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=600)
        try:
            conn.request(self.command, self.path, body=raw or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, rheaders = resp.status, resp.reason, resp.getheaders()
        except Exception as e:  # noqa: BLE001 - report as 502
            data = json.dumps({"proxy_error": str(e)}).encode()
            status, reason, rheaders = 502, "Bad Gateway", [("Content-Type", "application/json")]
        finally:
            conn.close()
        self.send_response(status, reason)
        for k, v in rheaders:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        entry = {
            "ts": time.time(),
            "method": self.command,
            "path": self.path,
            "request_headers": {k: ("<redacted>" if k.lower() in SECRET else v) for k, v in headers.items()},
            "request_body": body_for_log(raw) if raw else None,
            "status": status,
            "response_headers": dict(rheaders),
            "response_body": body_for_log(data),
            "ms": round((time.monotonic() - t0) * 1000, 1),
        }
        with self.lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    Handler.upstream = urllib.parse.urlsplit(a.upstream)
    Handler.log_file = open(a.log, "a", encoding="utf-8")
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(a.port_file + ".tmp", a.port_file)
    print(f"proxy on 127.0.0.1:{port} -> {a.upstream}, log {a.log}", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
