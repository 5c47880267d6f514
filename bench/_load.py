"""HTTP load generator for bench/tracking.py, run in its own process.

    python bench/_load.py PORT PATHS_FILE [--processes 2] [--threads 4] [--duration 60]
                          [--rate 0] [--user-agent UA] [--status CODE]

PATHS_FILE holds one request a line, `STATUS PATH` (the status the answer must have;
--status overrides it for every line).
The paths are dealt round-robin to processes × threads; each thread keeps one
http.client keep-alive connection and sends its share in order. Closed loop by default
(each thread sends its next request when the answer arrives); with --rate R (requests/s
over all threads) every thread follows a fixed schedule and the latency of a request is
measured from its scheduled time, so time spent waiting behind a slow answer counts
(no coordinated omission). Every thread stops at the end of its share or after
--duration seconds, whichever comes first. One JSON document goes to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


@dataclass
class Tally:
    """What one thread saw."""

    latencies: array = field(default_factory=lambda: array("d"))
    ok: int = 0
    bad_status: int = 0
    errors: int = 0
    finished_at: float = 0.0


def run_thread(
    port: int,
    work: list[tuple[int, str]],
    start: float,
    deadline: float,
    interval: float,
    user_agent: str,
    tally: Tally,
) -> None:
    """Send `work` over one keep-alive connection until done or past the deadline."""
    headers = {"User-Agent": user_agent, "Accept": "*/*"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    clock = time.perf_counter
    for index, (status, path) in enumerate(work):
        now = time.monotonic()
        if now >= deadline:
            break
        if interval:
            due = start + index * interval
            if due > now:
                time.sleep(due - now)
            began = clock() - (time.monotonic() - due)  # latency counts from the due time
        else:
            began = clock()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            tally.errors += 1
            conn.close()  # http.client reconnects on the next request
            continue
        tally.latencies.append(clock() - began)
        if response.status == status:
            tally.ok += 1
        else:
            tally.bad_status += 1
    conn.close()
    tally.finished_at = time.monotonic()


def run_process(
    port: int,
    number: int,
    work: list[tuple[int, str]],
    processes: int,
    threads: int,
    duration: float,
    interval: float,
    user_agent: str,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """One load process: `threads` threads, started together when the parent says go."""
    tallies = [Tally() for _ in range(threads)]
    ready.put(True)
    go.wait(timeout=60)
    start = time.monotonic() + 0.05
    lanes = processes * threads
    workers = [
        threading.Thread(
            target=run_thread,
            args=(
                port,
                work[i::threads],
                start + interval * (number + processes * i) / lanes,  # spread the lanes
                start + duration,
                interval,
                user_agent,
                tallies[i],
            ),
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=duration + 30)
    latencies = array("d")
    for tally in tallies:
        latencies.extend(tally.latencies)
    results.put(
        {
            "start": start,
            "finished_at": max(t.finished_at for t in tallies),
            "ok": sum(t.ok for t in tallies),
            "bad_status": sum(t.bad_status for t in tallies),
            "errors": sum(t.errors for t in tallies),
            "latencies": latencies.tobytes(),
        }
    )


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted `values`."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(share * len(values)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("paths")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--user-agent", default=BROWSER)
    parser.add_argument("--status", type=int, help="expect this status for every request")
    args = parser.parse_args()
    with open(args.paths, encoding="ascii") as handle:
        work = [
            (int(s), p)
            for s, p in (line.split(" ", 1) for line in handle.read().splitlines() if line)
        ]
    if args.status:
        work = [(args.status, path) for _, path in work]
    lanes = args.processes * args.threads
    interval = lanes / args.rate if args.rate else 0.0
    context = mp.get_context("fork")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    processes = [
        context.Process(
            target=run_process,
            args=(
                args.port,
                i,
                work[i :: args.processes],
                args.processes,
                args.threads,
                args.duration,
                interval,
                args.user_agent,
                ready,
                go,
                results,
            ),
        )
        for i in range(args.processes)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)
    go.set()
    parts = [results.get(timeout=args.duration + 90) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    latencies = array("d")
    for part in parts:
        latencies.frombytes(part["latencies"])
    ordered = sorted(latencies)
    seconds = max(p["finished_at"] for p in parts) - min(p["start"] for p in parts)
    ok = sum(p["ok"] for p in parts)
    print(
        json.dumps(
            {
                "planned": len(work),
                "answered": len(ordered),
                "ok": ok,
                "bad_status": sum(p["bad_status"] for p in parts),
                "errors": sum(p["errors"] for p in parts),
                "seconds": seconds,
                "rps": len(ordered) / seconds if seconds > 0 else 0.0,
                "p50_ms": percentile(ordered, 0.50) * 1000,
                "p99_ms": percentile(ordered, 0.99) * 1000,
                "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
            }
        )
    )


if __name__ == "__main__":
    main()
