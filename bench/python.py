"""The Python package's benchmarks, written to bench/results/python.md with --write.

1. Hot path: pipemeter's item_created and observe against raw prometheus_client doing the same recording in the same
   process (alternating rounds; ratios of time per call, pipemeter / prometheus_client; target <= 1.5x, since
   pipemeter adds the URL-to-host reduction and the series cap).
2. The sidecar client: events/s delivered from one process to a real `pipemeter serve` (dist/cli/main.js), with the
   client's CPU time per event and the caller's cost per call.

Run with Debian's python3 (prometheus_client 0.16): npm run build && /usr/bin/python3 bench/python.py --write
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import prometheus_client  # noqa: E402
from prometheus_client import CollectorRegistry, Counter, Histogram  # noqa: E402

from pipemeter import SidecarClient, create_meter  # noqa: E402

ROUNDS = 7
ROUND_SECONDS = 0.3
STAGE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
URLS = ["https://www.beatport.com/track/track-%d/%d" % (i, 1000 + i) for i in range(1024)]


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            if m:
                model = m.group(1).split(" ")[0] + " " + m.group(1).split(" ")[1] if m.group(1).startswith("AMD") else m.group(1)
    except OSError:
        pass
    return "%d × %s, Python %s, prometheus_client %s, %s" % (os.cpu_count() or 1, model, platform.python_version(), prometheus_client_version(), date.today().isoformat())


def prometheus_client_version():
    try:
        from importlib.metadata import version

        return version("prometheus_client")
    except Exception:
        return "?"


# --- hot path ------------------------------------------------------------------------------------------------


def cases():
    meter = create_meter(default_metrics=False)
    scraper = meter.scraper("beatport", item_types=["track"])
    stages = meter.catalog["pipeline_stage_duration_seconds"]
    bound = stages.labels({"pipeline": "images", "stage": "download", "outcome": "success"})
    pipeline = meter.pipeline("images", stages=["download"])
    reg = CollectorRegistry()
    raw_items = Counter("scraper_items_created_total", "Items.", ["scraper", "item_type", "source"], registry=reg)
    raw_stages = Histogram("pipeline_stage_duration_seconds", "Stages.", ["pipeline", "stage", "outcome"], buckets=STAGE_BUCKETS, registry=reg)
    raw_child = raw_stages.labels("images", "download", "success")
    labels = {"pipeline": "images", "stage": "download", "outcome": "success"}
    from urllib.parse import urlsplit

    def pm_item_created(n):
        f = scraper.item_created
        for i in range(n):
            f("track", URLS[i & 1023])

    def raw_inc(n):
        c = raw_items
        for i in range(n):
            c.labels("beatport", "track", "www.beatport.com").inc()

    def raw_inc_urlsplit(n):
        c = raw_items
        for i in range(n):
            c.labels("beatport", "track", urlsplit(URLS[i & 1023]).hostname).inc()

    def pm_observe(n):
        o = stages.observe
        for i in range(n):
            o(labels, 0.3)

    def raw_observe(n):
        h = raw_stages
        for i in range(n):
            h.labels("images", "download", "success").observe(0.3)

    def pm_bound_observe(n):
        o = bound.observe
        for i in range(n):
            o(0.3)

    def raw_child_observe(n):
        o = raw_child.observe
        for i in range(n):
            o(0.3)

    def pm_record_stage(n):
        r = pipeline.record_stage
        for i in range(n):
            r("download", 0.3, "success", "celery-42")

    def raw_observe_exemplar(n):
        h = raw_stages
        ex = {"job_id": "celery-42"}
        for i in range(n):
            h.labels("images", "download", "success").observe(0.3, ex)

    return [
        ("scraper.item_created(type, URL) vs prometheus_client labels(scraper, type, host).inc()", pm_item_created, raw_inc, 1.5),
        ("scraper.item_created(type, URL) vs prometheus_client labels(scraper, type, urlsplit(URL).hostname).inc()", pm_item_created, raw_inc_urlsplit, None),
        ("histogram.observe(labels, v) vs prometheus_client labels(...).observe(v)", pm_observe, raw_observe, 1.5),
        ("bound histogram observe(v) vs prometheus_client child observe(v)", pm_bound_observe, raw_child_observe, None),
        ("pipeline.record_stage(stage, s, outcome, job_id) vs prometheus_client labels(...).observe(v, exemplar)", pm_record_stage, raw_observe_exemplar, None),
    ]


def calibrate(fn):
    n = 1000
    while True:
        t0 = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t0
        if dt > 0.05:
            return max(1000, int(n * ROUND_SECONDS / dt))
        n *= 4


def hot_path():
    rows = []
    for name, ours, theirs, target in cases():
        n_ours, n_theirs = calibrate(ours), calibrate(theirs)
        ours_ns, theirs_ns, ratios = [], [], []
        for r in range(ROUNDS):
            pair = []
            for fn, n in ((ours, n_ours), (theirs, n_theirs)) if r % 2 == 0 else ((theirs, n_theirs), (ours, n_ours)):
                t0 = time.perf_counter()
                fn(n)
                pair.append((fn, (time.perf_counter() - t0) / n * 1e9))
            o = next(ns for fn, ns in pair if fn is ours)
            t = next(ns for fn, ns in pair if fn is theirs)
            ours_ns.append(o)
            theirs_ns.append(t)
            ratios.append(o / t)
        rows.append((name, ours_ns, theirs_ns, ratios, target))
    return rows


# --- sidecar client ------------------------------------------------------------------------------------------


def start_serve():
    d = tempfile.mkdtemp(prefix="pipemeter-bench-")
    cfg = os.path.join(d, "pipemeter.yaml")
    with open(cfg, "w") as f:
        f.write("listeners:\n  metrics: { host: 127.0.0.1, port: 0 }\n  ingest: { port: 0 }\n")
    p = subprocess.Popen(["node", os.path.join(ROOT, "dist/cli/main.js"), "serve", "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    m = re.search(r"metrics on (\S+), ingest on (\S+)/v1/events", line)
    if not m:
        p.kill()
        raise SystemExit("pipemeter serve did not start (run npm run build first): %s" % line)
    return p, m.group(1), m.group(2)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accepted_by(metrics_url):
    text = urllib.request.urlopen(metrics_url).read().decode()
    m = re.search(r'^pipemeter_ingest_events_total\{source="events",outcome="accepted"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def sidecar_client(events=300_000, rounds=3):
    serve, metrics_url, ingest_url = start_serve()
    out = []
    try:
        for _ in range(rounds):
            before = accepted_by(metrics_url)
            client = SidecarClient(ingest_url, max_queue=events + 1, batch_size=1000, flush_interval=0.05)
            s = client.scraper("beatport")
            cpu0, side0 = time.process_time(), proc_cpu(serve.pid)
            t0 = time.perf_counter()
            f = s.item_created
            for i in range(events):
                f("track", URLS[i & 1023])
            t_send = time.perf_counter() - t0
            ok = client.flush(300)
            t_all = time.perf_counter() - t0
            cpu, side = time.process_time() - cpu0, proc_cpu(serve.pid) - side0
            st = client.stats()
            client.close(1)
            landed = accepted_by(metrics_url) - before
            if not ok or st["accepted"] != events or landed != events or any(st["dropped"].values()):
                raise SystemExit("sidecar client bench lost events: %r, sidecar counted %d" % (st, landed))
            out.append({"events_per_s": events / t_all, "send_ns": t_send / events * 1e9, "cpu_us": cpu / events * 1e6, "cores": cpu / t_all, "sidecar_us": side / events * 1e6})
    finally:
        serve.terminate()
        serve.wait(10)
    return out


# --- report --------------------------------------------------------------------------------------------------


def fmt_ns(xs):
    return "%.0f ns (%.0f–%.0f)" % (statistics.median(xs), min(xs), max(xs))


def report(rows, client):
    lines = [
        "# Python benchmark",
        "",
        "%s; %d alternating rounds of ~%.1f s per case, in one process. Baseline: raw prometheus_client recording the same"
        % (machine(), ROUNDS, ROUND_SECONDS),
        "samples (same names, labels, buckets) in its own registry. Time per call: median (min–max over rounds); ratio: median of",
        "per-round ratios, pipemeter / prometheus_client (lower is faster). pipemeter's item_created also reduces the URL to its",
        "host; the baseline is handed the host, as the seed scrapers' `track_item_creation` was.",
        "",
        "| benchmark | pipemeter per call | prometheus_client per call | ratio (median of rounds) | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, ours, theirs, ratios, target in rows:
        r = statistics.median(ratios)
        lines.append(
            "| %s | %s | %s | %.2fx (%.2f–%.2f) | %s | %s |"
            % (name, fmt_ns(ours), fmt_ns(theirs), r, min(ratios), max(ratios), "<= %.1fx" % target if target else "reported", ("yes" if r <= target else "no") if target else "")
        )
    med = lambda k: statistics.median(x[k] for x in client)
    rng = lambda k, f: "%s–%s" % (f % min(x[k] for x in client), f % max(x[k] for x in client))
    lines += [
        "",
        "Sidecar client: %d rounds of 300,000 `item_created` events (URLs cycled over 1,024) sent from one thread of one process to"
        % len(client),
        "a real `pipemeter serve` on loopback (default limits, batches of 1,000 NDJSON lines), until `flush()` returned; every",
        "event accepted (checked against the client's stats and the sidecar's `pipemeter_ingest_events_total`). CPU is the",
        "Python process's (caller and sender thread) from `time.process_time()`, and the sidecar's from /proc.",
        "",
        "| measure | median | range |",
        "|---|---|---|",
        "| events/s delivered, send to flushed | %.0fk | %.0fk–%.0fk |"
        % (med("events_per_s") / 1000, min(x["events_per_s"] for x in client) / 1000, max(x["events_per_s"] for x in client) / 1000),
        "| caller's cost per event (send() into the queue) | %.2f µs | %.2f–%.2f |"
        % (med("send_ns") / 1000, min(x["send_ns"] for x in client) / 1000, max(x["send_ns"] for x in client) / 1000),
        "| client CPU per event (caller + sender: JSON, HTTP) | %.2f µs | %s |" % (med("cpu_us"), rng("cpu_us", "%.2f")),
        "| client CPU while sending, in cores | %.2f | %s |" % (med("cores"), rng("cores", "%.2f")),
        "| sidecar CPU per event (parse, apply) | %.2f µs | %s |" % (med("sidecar_us"), rng("sidecar_us", "%.2f")),
        "",
    ]
    return "\n".join(lines)


def main():
    rows = hot_path()
    client = sidecar_client()
    text = report(rows, client)
    print(text)
    if "--write" in sys.argv:
        with open(os.path.join(ROOT, "bench/results/python.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
