"""The sidecar client: the same scraper, pipeline and job handles as the meter, sent as events to ``pipemeter serve``
(docs/sidecar-api.md) in NDJSON batches from a background thread. It never blocks or raises in the caller: events go
into a bounded queue, and what it cannot deliver is counted (``stats()``) and logged once per reason."""
import atexit
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque

from ._handles import JobHandle, ScraperHandle, _name, _names
from ._numbers import to_seconds
from ._source import source_label

__all__ = ["SidecarClient", "DROP_REASONS"]

#: Why the client dropped an event (the keys of ``stats()["dropped"]``).
DROP_REASONS = (
    "queue_full",  # the queue was at max_queue: the sidecar is slower than the worker, or down for long
    "closed",  # sent after close()
    "invalid",  # not JSON: NaN or infinity
    "too_large",  # one event larger than max_batch_bytes
    "unreachable",  # connection refused, timeout, 5xx or 429 after the retries
    "unauthorized",  # 401: the token is missing or wrong
    "refused",  # the sidecar refused the event (listed in "rejected", or a 4xx for the whole batch)
)

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str).encode


class SidecarClient:
    """Send pipemeter events to a sidecar. Thread-safe, fork-safe (a forked child starts its own sender
    thread on its first event), flushed at exit.

    ``url`` is the sidecar's ingest listener (``http://127.0.0.1:9465``); ``token_file`` holds its Bearer
    token. ``max_queue`` bounds the events held in memory; a batch is sent when ``batch_size`` events are
    queued or every ``flush_interval`` seconds, at most ``max_batch_bytes`` of NDJSON per request (below the
    sidecar's 1 MiB body limit)."""

    def __init__(
        self,
        url="http://127.0.0.1:9465",
        token_file=None,
        max_queue=100000,
        batch_size=1000,
        flush_interval=0.5,
        max_batch_bytes=512 * 1024,
        timeout=2.0,
        retries=2,
        logger=None,
    ):
        from ._meter import PipemeterError

        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise PipemeterError("E_SIDECAR_URL", "sidecar url %r must start with http:// or https://, e.g. http://127.0.0.1:9465" % (url,))
        base = url.rstrip("/")
        self.url = base if base.endswith("/v1/events") else base + "/v1/events"
        self._headers = {"Content-Type": "application/x-ndjson"}
        if token_file is not None:
            try:
                with open(token_file, encoding="utf-8") as f:
                    token = f.read().strip()
            except OSError as err:
                raise PipemeterError("E_TOKEN_FILE", "cannot read the sidecar token file %r (%s); check token_file" % (token_file, err.strerror or err)) from err
            if token == "":
                raise PipemeterError("E_TOKEN_FILE", "the sidecar token file %r is empty; write the ingest token into it" % (token_file,))
            self._headers["Authorization"] = "Bearer " + token
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_batch_bytes = max_batch_bytes
        self.timeout = timeout
        self.retries = retries
        self._logger = logger
        self._scrapers = {}
        self._pipelines = {}
        self._closed = False
        self._fresh()
        _clients.add(self)

    def _fresh(self):
        """The state that is per process: a forked child gets new ones, and the parent's queue stays the parent's."""
        self._q = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._stopping = False
        self._busy = False
        self._logged = set()
        self._sent = 0
        self._accepted = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)

    # --- handles ----------------------------------------------------------------------------------------

    def scraper(self, name, item_types=None, sources=None):
        """The handle of one scraper. With ``sources``, the declared item types are sent with count 0 so their
        series start at 0; without, declare them under ``scrapers:`` in the sidecar's config."""
        s = self._scrapers.get(_name("scraper", name))
        if s is None:
            s = self._scrapers[name] = _ClientScraper(self, name, item_types, sources)
        return s

    def pipeline(self, name, stages=None):
        """The handle of one pipeline (declare its stages under ``pipelines:`` in the sidecar's config)."""
        p = self._pipelines.get(_name("pipeline", name))
        if p is None:
            p = self._pipelines[name] = _ClientPipeline(self, name)
        return p

    def counter(self, name, help=None, labels=()):
        """A family declared under ``families:`` in the sidecar's config: inc() sends a ``metric`` event."""
        return _ClientFamily(self, name, tuple(labels or ()))

    gauge = counter
    histogram = counter

    # --- sending ----------------------------------------------------------------------------------------

    def send(self, event):
        """Queue one event (a dict as docs/sidecar-api.md describes it). Never blocks, never raises."""
        if self._closed:
            self._drop("closed", 1, "an event was sent after close()")
            return
        q = self._q
        if len(q) >= self.max_queue:
            self._drop("queue_full", 1, "the queue holds %d events and the sidecar at %s is not taking them as fast" % (self.max_queue, self.url))
            return
        q.append(event)
        if self._thread is None:
            self._start()
        if len(q) >= self.batch_size:
            self._wake.set()

    def flush(self, timeout=5.0):
        """Send what is queued now; True when the queue was emptied within ``timeout`` seconds."""
        if self._thread is None:
            if not self._q:
                return True
            self._start()
        deadline = time.monotonic() + timeout
        while self._q or self._busy:
            self._wake.set()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout=5.0):
        """Flush (up to ``timeout`` seconds) and stop the sender thread; later events are dropped as ``closed``."""
        if self._closed:
            return
        flushed = self.flush(timeout)
        self._closed = True
        self._stopping = True
        self._wake.set()
        t = self._thread
        if t is not None:
            t.join(max(0.0, timeout))
        left = len(self._q)
        if left:
            self._q.clear()
            self._drop("unreachable", left, "close() ran out of time with events still queued")
        return flushed

    def stats(self):
        """What the client did with the events it was given: sent, accepted by the sidecar, queued, dropped by reason."""
        with self._lock:
            return {"sent": self._sent, "accepted": self._accepted, "queued": len(self._q), "dropped": dict(self._dropped)}

    # --- the sender thread ------------------------------------------------------------------------------

    def _start(self):
        with self._lock:
            if self._thread is None and not self._stopping:
                t = threading.Thread(target=self._run, name="pipemeter-sidecar-client", daemon=True)
                self._thread = t
                t.start()

    def _run(self):
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._busy = True
            try:
                self._drain()
            except Exception as err:  # never let the sender die: a dead sender would drop everything silently
                self._log_once("sender", "pipemeter: the sidecar client's sender failed (%r); it goes on" % (err,))
            finally:
                self._busy = False
            if self._stopping:
                return

    def _drain(self):
        q = self._q
        limit = self.max_batch_bytes
        while q:
            lines = []
            size = 0
            while q and len(lines) < self.batch_size:
                e = q.popleft()
                try:
                    line = _dumps(e).encode("utf-8")
                except (TypeError, ValueError, RecursionError) as err:
                    self._drop("invalid", 1, "an event is not JSON (%s)" % (err,))
                    continue
                if len(line) + 1 > limit:
                    self._drop("too_large", 1, "an event of %d bytes is over max_batch_bytes (%d)" % (len(line), limit))
                    continue
                if size + len(line) + 1 > limit:
                    q.appendleft(e)
                    break
                lines.append(line)
                size += len(line) + 1
            if lines:
                try:
                    self._post(lines)
                except Exception as err:  # whatever went wrong, these events are counted, not lost silently
                    self._drop("unreachable", len(lines), "the sender failed on a batch (%r)" % (err,))

    def _post(self, lines):
        body = b"\n".join(lines) + b"\n"
        n = len(lines)
        delay = 0.2
        last = self.url
        for attempt in range(self.retries + 1):
            if attempt > 0:
                time.sleep(delay)
                delay *= 2
            req = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    answer = _json(resp.read())
                    self._answered(n, answer)
                    return
            except urllib.error.HTTPError as err:
                status = err.code
                answer = _json(err.read())
                err.close()
                if status == 400 and isinstance(answer, dict) and "error" in answer:
                    details = answer["error"].get("details") or {}
                    if answer["error"].get("code") == "E_EVENTS_REJECTED":
                        self._answered(n, details)
                        return
                    self._drop("refused", n, "the sidecar answered 400: %s" % (answer["error"].get("message"),))
                    return
                if status == 401:
                    self._drop("unauthorized", n, "the sidecar answered 401: the ingest token is missing or wrong (token_file)")
                    return
                if status == 429 or status >= 500:
                    retry_after = err.headers.get("Retry-After") if err.headers is not None else None
                    if retry_after is not None and retry_after.isdigit():
                        delay = min(float(retry_after), 2.0)
                    last = "the sidecar answered %d" % status
                    continue
                self._drop("refused", n, "the sidecar answered %d: %s" % (status, _message(answer)))
                return
            except Exception as err:  # connection refused, timeout, reset: retried, then counted
                last = "%s (%s)" % (self.url, err)
                continue
        self._drop("unreachable", n, "cannot deliver to %s" % (last,))

    def _answered(self, n, answer):
        rejected = answer.get("rejected") if isinstance(answer, dict) else None
        refused = len(rejected) if isinstance(rejected, list) else 0
        with self._lock:
            self._sent += n
            self._accepted += n - refused
        if refused:
            first = rejected[0] if isinstance(rejected[0], dict) else {}
            self._drop("refused", refused, "the sidecar refused %d of %d events, e.g. %s" % (refused, n, first.get("reason") or first))

    def _drop(self, reason, n, detail):
        with self._lock:
            self._dropped[reason] += n
        self._log_once(
            reason,
            "pipemeter: the sidecar client dropped %d event(s), %s: %s; counted in SidecarClient.stats(), further drops are counted, not logged" % (n, reason, detail),
        )

    def _log_once(self, key, message):
        if key in self._logged:
            return
        self._logged.add(key)
        try:
            if self._logger is not None:
                self._logger(message)
            else:
                logging.getLogger("pipemeter").warning(message)
        except Exception:
            pass


def _json(raw):
    try:
        return json.loads(raw)
    except Exception:
        return None


def _message(answer):
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return answer["error"].get("message")
    return answer


def _seconds(t):
    """An instant for an event: now when none is given, else epoch seconds, or the value as given (the sidecar says
    why it refuses it)."""
    if t is None:
        return time.time()
    s = to_seconds(t)
    return s if s is not None else t


# --- handles -------------------------------------------------------------------------------------------


class _ClientScraper(ScraperHandle):
    def __init__(self, client, name, item_types, sources):
        self.name = _name("scraper", name)
        self._send = client.send
        types = _names("item_types", item_types)
        for host in [source_label(s) for s in _names("sources", sources)]:
            for item_type in types:
                self._send({"type": "item_created", "scraper": self.name, "item_type": item_type, "source": host, "count": 0})

    def item_created(self, item_type, source, n=1):
        """Count n items of a type; only the host of ``source`` is sent."""
        e = {"type": "item_created", "scraper": self.name, "item_type": item_type, "source": source_label(source)}
        if n != 1:
            e["count"] = n
        self._send(e)

    def schema_error(self, error_type, item_type, n=1):
        e = {"type": "schema_error", "scraper": self.name, "item_type": item_type, "error_type": error_type}
        if n != 1:
            e["count"] = n
        self._send(e)

    def record_run(self, outcome, duration_seconds=None, at=None):
        e = {"type": "scraper_run", "scraper": self.name, "outcome": outcome, "at": _seconds(at)}
        if duration_seconds is not None:
            e["duration_seconds"] = duration_seconds
        self._send(e)


class _ClientPipeline:
    def __init__(self, client, name):
        self.name = _name("pipeline", name)
        self._send = client.send

    def job_queued(self, job_id, at=None, initiated_at=None):
        """A job entered the queue (sent by the publisher): the sidecar derives queue depth and wait from it."""
        e = {"type": "job_queued", "pipeline": self.name, "job_id": str(job_id), "at": _seconds(at)}
        if initiated_at is not None:
            e["initiated_at"] = _seconds(initiated_at)
        self._send(e)

    def job(self, job_id, queued_at=None, initiated_at=None, started_at=None):
        """A job starts: ``job_started`` is sent now; the handle sends its stages and its finish."""
        started = _seconds(started_at)
        e = {"type": "job_started", "pipeline": self.name, "job_id": str(job_id), "at": started}
        if queued_at is not None:
            e["queued_at"] = _seconds(queued_at)
        if initiated_at is not None:
            e["initiated_at"] = _seconds(initiated_at)
        self._send(e)
        return _ClientJob(self, str(job_id), started)

    def resumed(self, job_id, started_at=None):
        """The handle of a job already started (e.g. a retried task's next attempt): sends no ``job_started``."""
        return _ClientJob(self, str(job_id), _seconds(started_at))

    def record_stage(self, stage, seconds, outcome="success", job_id=None):
        e = {"type": "stage", "pipeline": self.name, "stage": stage, "duration_seconds": seconds}
        if outcome != "success":
            e["outcome"] = outcome
        if job_id is not None:
            e["job_id"] = str(job_id)
        self._send(e)

    def record_finished(self, outcome, duration_seconds=None, e2e_seconds=None, media_seconds=None, failed_stage=None, job_id=None, at=None):
        """A job finished that this process holds no handle of (e.g. a task revoked before it started). The
        sidecar derives e2e from the times it holds, so ``e2e_seconds`` is not sent; ``duration_seconds`` is used
        only when it never saw the start."""
        e = {"type": "job_finished", "pipeline": self.name, "job_id": str(job_id), "outcome": outcome, "at": _seconds(at)}
        if media_seconds is not None:
            e["media_seconds"] = media_seconds
        if failed_stage is not None:
            e["failed_stage"] = failed_stage
        if duration_seconds is not None:
            e["duration_seconds"] = duration_seconds
        self._send(e)

    def items(self, outcome, count=1):
        e = {"type": "items", "pipeline": self.name, "outcome": outcome}
        if count != 1:
            e["count"] = count
        self._send(e)


class _ClientJob(JobHandle):
    def __init__(self, pipeline, job_id, started):
        self.pipeline = pipeline
        self.id = job_id
        self._started = started

    def stage_observed(self, name, seconds, outcome="success"):
        self.pipeline.record_stage(name, seconds, outcome, self.id)

    def finish(self, outcome, media_seconds=None, failed_stage=None, at=None):
        """Send the finish; the sidecar derives duration, e2e and RTF from the job's times (a second finish is
        counted there as ``duplicate_finish``)."""
        end = _seconds(at)
        duration = None
        if isinstance(end, float) and isinstance(self._started, float):
            duration = max(0.0, end - self._started)
        self.pipeline.record_finished(outcome, duration_seconds=duration, media_seconds=media_seconds, failed_stage=failed_stage, job_id=self.id, at=end)


class _ClientFamily:
    """A custom family the sidecar declares: counters add, gauges are set, histograms observe."""

    def __init__(self, client, name, label_names):
        self.name = name
        self.label_names = label_names
        self._send = client.send

    def _event(self, labels, value):
        e = {"type": "metric", "name": self.name, "labels": dict(labels) if labels else {}}
        if value != 1:
            e["value"] = value
        self._send(e)

    def inc(self, labels=None, n=1):
        self._event(labels, n)

    def set(self, labels, v):
        self._event(labels, v)

    def observe(self, labels, v):
        self._event(labels, v)

    def labels(self, labels):
        return _BoundClientFamily(self, labels)


class _BoundClientFamily:
    def __init__(self, family, labels):
        self._family = family
        self._labels = labels

    def inc(self, n=1):
        self._family._event(self._labels, n)

    def set(self, v):
        self._family._event(self._labels, v)

    def observe(self, v):
        self._family._event(self._labels, v)


# --- process life: fork and exit ---------------------------------------------------------------------------

_clients = weakref.WeakSet()


def _after_fork_in_child():
    # The parent's thread does not exist in the child, and the parent sends what it had queued.
    for c in list(_clients):
        c._fresh()


def _close_all_at_exit():
    for c in list(_clients):
        try:
            c.close(timeout=2.0)
        except Exception:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
