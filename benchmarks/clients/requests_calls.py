"""Call a list of URLs with requests and a thread pool, one Session per thread.

This is the script many teams write first. Prints one JSON line: wall and CPU
seconds of the calls, and how many returned status 200.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url_file", help="one URL per line")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--cacert", required=True)
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    with open(args.url_file) as lines:
        urls = [line.strip() for line in lines if line.strip()]
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {name.strip(): value.strip() for name, value in headers.items()}
    local = threading.local()

    def call(url: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.cert = (args.cert, args.key)
        # verify goes with each call: a Session's own verify loses to the
        # REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE environment variables.
        response = session.get(url, headers=headers, verify=args.cacert, timeout=30)
        return response.status_code

    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(args.workers) as pool:
        statuses = list(pool.map(call, urls))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ok = statuses.count(200)
    print(json.dumps({"tick_wall_s": wall, "tick_cpu_s": cpu, "ok": ok}))


if __name__ == "__main__":
    main()
