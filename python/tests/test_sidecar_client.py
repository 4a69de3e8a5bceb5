"""SidecarClient against a stand-in sidecar (the real one is driven from test/python/*.test.ts): the events it
sends, how it batches, and that every event it cannot deliver is counted, while the caller never blocks or raises."""
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipemeter import PipemeterError, SidecarClient


class FakeSidecar:
    """Answers POST /v1/events like pipemeter serve: 200 {accepted, rejected}; `refuse` picks events to reject;
    `status` forces an error answer."""

    def __init__(self):
        self.requests = []
        self.refuse = lambda e: False
        self.status = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                events = [json.loads(l) for l in body.decode().split("\n") if l]
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "events": events})
                if outer.status is not None:
                    code, answer = outer.status
                else:
                    rejected = [{"index": i, "code": "invalid_event", "reason": "refused by the test"} for i, e in enumerate(events) if outer.refuse(e)]
                    code = 200 if len(rejected) < len(events) or not events else 400
                    details = {"accepted": len(events) - len(rejected), "rejected": rejected}
                    answer = details if code == 200 else {"error": {"code": "E_EVENTS_REJECTED", "message": "every event was refused", "details": details}}
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def events(self):
        return [e for r in self.requests for e in r["events"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sidecar():
    s = FakeSidecar()
    yield s
    s.close()


@pytest.fixture
def logs():
    return []


def client_for(url, logs, **kw):
    return SidecarClient(url, logger=logs.append, **kw)


def test_handles_send_the_documented_events(sidecar, logs):
    c = client_for(sidecar.url, logs)
    b = c.scraper("beatport", item_types=["track"], sources=["https://www.beatport.com/"])
    b.item_created("track", "https://www.beatport.com/track/x/1")
    b.item_created("artist", "https://www.beatport.com/artist/y", 3)
    b.schema_error("validation", "track")
    with b.run():
        pass
    p = c.pipeline("images")
    p.job_queued("celery-42", at=100.0)
    job = p.job("celery-42", queued_at=100.0, initiated_at=99.0, started_at=101.0)
    with job.stage("download"):
        pass
    with pytest.raises(KeyError):
        with job.stage("validate"):
            raise KeyError("x")
    job.finish("failed", media_seconds=312, at=105.5)
    p.items("retried")
    c.counter(name="image_bytes_processed_total", labels=["phase"]).inc({"phase": "download"}, 2048)
    assert c.flush(5)
    ev = sidecar.events
    strip = lambda e: {k: v for k, v in e.items() if k not in ("at", "duration_seconds")}
    assert [strip(e) for e in ev] == [
        {"type": "item_created", "scraper": "beatport", "item_type": "track", "source": "www.beatport.com", "count": 0},
        {"type": "item_created", "scraper": "beatport", "item_type": "track", "source": "www.beatport.com"},
        {"type": "item_created", "scraper": "beatport", "item_type": "artist", "source": "www.beatport.com", "count": 3},
        {"type": "schema_error", "scraper": "beatport", "item_type": "track", "error_type": "validation"},
        {"type": "scraper_run", "scraper": "beatport", "outcome": "success"},
        {"type": "job_queued", "pipeline": "images", "job_id": "celery-42"},
        {"type": "job_started", "pipeline": "images", "job_id": "celery-42", "queued_at": 100.0, "initiated_at": 99.0},
        {"type": "stage", "pipeline": "images", "job_id": "celery-42", "stage": "download"},
        {"type": "stage", "pipeline": "images", "job_id": "celery-42", "stage": "validate", "outcome": "failure"},
        {"type": "job_finished", "pipeline": "images", "job_id": "celery-42", "outcome": "failed", "media_seconds": 312},
        {"type": "items", "pipeline": "images", "outcome": "retried"},
        {"type": "metric", "name": "image_bytes_processed_total", "labels": {"phase": "download"}, "value": 2048},
    ]
    assert ev[5]["at"] == 100.0 and ev[6]["at"] == 101.0 and ev[9]["at"] == 105.5
    assert ev[9]["duration_seconds"] == 4.5
    assert 0 <= ev[4]["duration_seconds"] < 1 and abs(ev[4]["at"] - time.time()) < 5
    r = sidecar.requests[0]
    assert r["path"] == "/v1/events" and r["headers"]["Content-Type"] == "application/x-ndjson"
    assert c.stats() == {"sent": 12, "accepted": 12, "queued": 0, "dropped": {k: 0 for k in c.stats()["dropped"]}}
    assert logs == []


def test_batches_by_size_and_carries_the_bearer_token(sidecar, logs, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    c = client_for(sidecar.url, logs, token_file=str(token), batch_size=1000, flush_interval=60)
    s = c.scraper("s")
    for i in range(2500):
        s.item_created("track", "https://x.org/%d" % i)
    assert c.flush(5)
    assert [len(r["events"]) for r in sidecar.requests] == [1000, 1000, 500]
    assert all(r["headers"]["Authorization"] == "Bearer s3cret" for r in sidecar.requests)
    assert c.stats()["accepted"] == 2500


def test_a_batch_stays_under_max_batch_bytes_and_an_event_over_it_is_dropped_alone(sidecar, logs):
    c = client_for(sidecar.url, logs, max_batch_bytes=4096, flush_interval=60)
    s = c.scraper("s")
    for _ in range(100):
        s.item_created("track", "x.org")
    s.item_created("t" * 100_000, "x.org")
    s.item_created("after", "x.org")
    assert c.flush(5)
    sizes = [int(r["headers"]["Content-Length"]) for r in sidecar.requests]
    assert len(sidecar.requests) > 1 and max(sizes) <= 4096
    assert len(sidecar.events) == 101 and sidecar.events[-1]["item_type"] == "after"
    assert c.stats()["dropped"]["too_large"] == 1
    assert len(logs) == 1 and "too_large" in logs[0]


def test_events_the_sidecar_refuses_are_counted_and_logged_once(sidecar, logs):
    c = client_for(sidecar.url, logs, flush_interval=60)
    sidecar.refuse = lambda e: e.get("item_type") == "bad"
    s = c.scraper("s")
    for t in ["ok", "bad", "ok", "bad"]:
        s.item_created(t, "x.org")
    assert c.flush(5)
    for _ in range(3):
        s.item_created("bad", "x.org")
    assert c.flush(5)
    st = c.stats()
    assert (st["sent"], st["accepted"], st["dropped"]["refused"]) == (7, 2, 5)
    assert len(logs) == 1 and "refused by the test" in logs[0]


@pytest.mark.parametrize(
    "status, reason",
    [
        ((401, {"error": {"code": "E_UNAUTHORIZED", "message": "no"}}), "unauthorized"),
        ((413, {"error": {"code": "E_BODY_TOO_LARGE", "message": "big"}}), "refused"),
        ((503, {"error": {"code": "E_X", "message": "down"}}), "unreachable"),
    ],
)
def test_a_refused_request_drops_its_batch_counted_by_reason(sidecar, logs, status, reason):
    sidecar.status = status
    c = client_for(sidecar.url, logs, flush_interval=60, retries=1)
    for _ in range(5):
        c.pipeline("p").items("done")
    assert c.flush(10)
    assert c.stats()["dropped"][reason] == 5
    # A 5xx is retried once; a 4xx is final.
    assert len(sidecar.requests) == (2 if reason == "unreachable" else 1)


def test_a_closed_sidecar_never_blocks_or_raises_and_the_loss_is_counted(logs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client_for("http://127.0.0.1:%d" % port, logs, flush_interval=0.05, retries=1)
    p = c.pipeline("images")
    t0 = time.perf_counter()
    for i in range(1000):
        p.job("j-%d" % i).finish("completed")
    assert time.perf_counter() - t0 < 0.5
    assert c.flush(10)
    st = c.stats()
    assert st["dropped"]["unreachable"] == 2000 and st["sent"] == 0
    assert len(logs) == 1 and "unreachable" in logs[0]


def test_a_full_queue_drops_the_newest_events_counted_exactly(logs):
    # A sidecar that accepts the connection and never answers: the sender is stuck, the queue fills.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    try:
        c = client_for("http://127.0.0.1:%d" % hung.getsockname()[1], logs, max_queue=10, flush_interval=60, timeout=0.3, retries=0)
        s = c.scraper("s")
        t0 = time.perf_counter()
        for _ in range(25):
            s.item_created("track", "x.org")
        assert time.perf_counter() - t0 < 0.1
        assert c.stats()["dropped"]["queue_full"] == 15
        c.close(timeout=2)
        st = c.stats()
        assert st["dropped"]["queue_full"] + st["dropped"]["unreachable"] == 25
        s.item_created("track", "x.org")
        assert c.stats()["dropped"]["closed"] == 1
        assert sorted(l.split(", ")[1].split(":")[0] for l in logs) == ["closed", "queue_full", "unreachable"]
    finally:
        hung.close()


def test_events_that_are_not_json_are_dropped_as_invalid_the_rest_go_on(sidecar, logs):
    c = client_for(sidecar.url, logs, flush_interval=60)
    c.pipeline("p").record_stage("s", float("nan"))
    c.pipeline("p").record_stage("s", float("inf"))
    c.scraper("s").item_created(object(), None)  # not a name: sent as its str(), for the sidecar to refuse with a reason
    c.send({"type": "items", "pipeline": "p", "outcome": "done"})
    assert c.flush(5)
    assert c.stats()["dropped"]["invalid"] == 2
    assert [e["type"] for e in sidecar.events] == ["item_created", "items"]
    assert sidecar.events[0]["source"] == "invalid"


def test_a_forked_child_sends_its_own_events_once_and_not_the_parents(sidecar, logs):
    c = client_for(sidecar.url, logs, flush_interval=60)
    c.pipeline("p").items("parent")  # queued, not yet sent, when the process forks
    pid = os.fork()
    if pid == 0:  # the child: a new sender thread starts on its first event
        try:
            c.pipeline("p").items("child")
            ok = c.flush(5) and c.stats()["accepted"] == 1
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert c.flush(5)
    assert sorted(e["outcome"] for e in sidecar.events) == ["child", "parent"]


def test_a_token_file_that_cannot_be_read_is_refused_at_start_up(tmp_path):
    with pytest.raises(PipemeterError, match="cannot read the sidecar token file") as err:
        SidecarClient("http://127.0.0.1:9465", token_file=str(tmp_path / "missing"))
    assert err.value.code == "E_TOKEN_FILE"
    with pytest.raises(PipemeterError, match="must start with http"):
        SidecarClient("127.0.0.1:9465")
