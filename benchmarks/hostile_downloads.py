"""How long the "web-search" source spends on servers that never end, with its default limits:
a search whose pages list only broken links for ever, a server that drips one byte a second, and
one that streams without end just above the minimum rate.

    python benchmarks/hostile_downloads.py [--drip-rate 1] [--stream-rate 2000] [--deadline 120]

Each case runs against a real HTTP server on 127.0.0.1 (hence allow_local = true) and prints the
requests it cost, the reason it was given up, and wall and CPU seconds (this process's, the
server's threads included). Before issue 21, the first case ran 3,255 pages (16,270 requests) in
150 s until killed, and the other two never ended.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import artgan
from artgan.toolkit.precision import cpu_name
from artgan_plugins.web_search import WebSearch


class Hostile(BaseHTTPRequestHandler):
    """/broken?p=N: five new broken links a page, for ever; /drip?p=N: one link on the first page,
    to /image, which sends ``rate`` bytes a second for ever."""

    rate = 1.0
    requests = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        Hostile.requests += 1
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        page = self.path.rsplit("p=", 1)[-1]
        if self.path.startswith("/broken"):
            return self.reply(200, "application/json", json.dumps([f"{host}/gone/{page}-{i}.png" for i in range(5)]))
        if self.path.startswith("/drip"):
            return self.reply(200, "application/json", json.dumps([f"{host}/image"] if page == "1" else []))
        if self.path.startswith("/gone"):
            return self.reply(404, "text/plain", "not found")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        pause = max(0.1, 1 / Hostile.rate)  # fast rates in chunks, so sleeping's overhead does not slow them
        try:
            while True:
                time.sleep(pause)
                self.wfile.write(bytes(round(Hostile.rate * pause)))
                self.wfile.flush()
        except OSError:  # the client gave up
            pass

    def reply(self, status, content_type, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run_case(label: str, endpoint: str, rate: float = 1.0, **options) -> None:
    Hostile.rate, Hostile.requests = rate, 0
    with tempfile.TemporaryDirectory() as folder:
        source = WebSearch(WebSearch.Options(query="x", provider="json", endpoint=endpoint, json_path="[]",
                                             allow_local=True, **options), artgan.Context(cache_dir=Path(folder)))
        wall, cpu = time.perf_counter(), time.process_time()
        results = list(source.items())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    reasons = Counter(r.reason for r in results if isinstance(r, artgan.Skipped))
    print(f"{label:32} {Hostile.requests:8d} {wall:8.1f} {cpu:8.2f}  "
          + "; ".join(f"{n} x {reason}" for reason, n in reasons.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drip-rate", type=float, default=1.0, help="bytes a second of the drip server")
    parser.add_argument("--stream-rate", type=float, default=2000.0, help="bytes a second of the endless stream")
    parser.add_argument("--deadline", type=float, default=120.0, help="the source's deadline option")
    args = parser.parse_args()
    print(f"cpu: {cpu_name()} ({platform.machine()}, {os.cpu_count()} cores); "
          f"load average before: {os.getloadavg()[0]:.1f}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{'case':32} {'requests':>8} {'wall s':>8} {'cpu s':>8}  reason given")
    run_case("endless pages of broken links", f"{url}/broken?q={{query}}&p={{page}}")
    drip = f"{url}/drip?q={{query}}&p={{page}}"
    run_case(f"drip, {args.drip_rate:g} byte/s", drip, args.drip_rate, deadline=args.deadline)
    run_case(f"endless stream, {args.stream_rate:g} bytes/s", drip, args.stream_rate, deadline=args.deadline)
    server.shutdown()


if __name__ == "__main__":
    main()
