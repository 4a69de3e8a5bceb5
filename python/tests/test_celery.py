"""pipemeter.celery with an in-process meter (solo or threads pool), driven by Celery's eager mode: the task signals
start and finish jobs, stage() records stages of the current job, a retry continues its job. The prefork worker with a
sidecar is tested against real redis and a real sidecar in test/python/celery.test.ts."""
import pytest

celery = pytest.importorskip("celery")

from pipemeter import PipemeterError  # noqa: E402
from pipemeter.celery import instrument, stage  # noqa: E402

from conftest import lines, value  # noqa: E402


@pytest.fixture
def app(meter):
    app = celery.Celery("eager", broker="memory://", backend="cache+memory://")
    app.conf.task_always_eager = True
    instrument(app, pipeline="images", meter=meter)

    @app.task
    def resize(n):
        with stage("download"):
            pass
        with stage("upload"):
            pass
        return n

    @app.task
    def broken():
        with stage("validate"):
            raise ValueError("not an image")

    @app.task(bind=True, max_retries=1)
    def flaky(self):
        with stage("download"):
            pass
        if self.request.retries == 0:
            raise self.retry(countdown=0)
        return "ok"

    app.resize, app.broken, app.flaky = resize, broken, flaky
    return app


def test_jobs_stages_failures_and_a_retry_in_process(app, meter):
    for i in range(3):
        assert app.resize.delay(i).get() == i
    assert app.broken.delay().failed()
    assert app.flaky.delay().get() == "ok"
    v = lambda name, **labels: value(meter, name, pipeline="images", **labels)
    assert v("pipeline_jobs_started_total") == 5.0
    assert (v("pipeline_jobs_finished_total", outcome="completed"), v("pipeline_jobs_finished_total", outcome="failed")) == (4.0, 1.0)
    assert v("pipeline_jobs_in_progress") == 0.0
    assert v("pipeline_items_total", outcome="retried") == 1.0
    assert v("pipeline_stage_duration_seconds_count", stage="download", outcome="success") == 5.0
    assert v("pipeline_stage_duration_seconds_count", stage="validate", outcome="failure") == 1.0
    assert v("pipeline_job_failures_total", stage="validate") == 1.0
    # The task ids are exemplars, not labels.
    assert not any("job_id" in l for l in lines(meter, "pipeline_jobs_finished_total"))
    assert 'job_id="' in meter.metrics(open_metrics=True).decode()


def test_stage_outside_a_task_records_a_stage_of_the_pipeline_without_a_job(app, meter):
    with stage("warmup"):
        pass
    assert value(meter, "pipeline_stage_duration_seconds_count", pipeline="images", stage="warmup", outcome="success") == 1.0


def test_instrument_needs_exactly_one_recorder(meter):
    app = celery.Celery("x", broker="memory://")
    with pytest.raises(PipemeterError, match="give one of sidecar_url=, client= or meter="):
        instrument(app, pipeline="images")
    with pytest.raises(PipemeterError):
        instrument(app, pipeline="images", meter=meter, sidecar_url="http://127.0.0.1:9465")


def test_publish_and_revoke_signals_send_the_sidecar_events():
    """The publisher's side and a revoke, with a sidecar client: the signals as Celery sends them."""
    from types import SimpleNamespace

    from celery import signals

    from pipemeter import SidecarClient
    from pipemeter.celery import QUEUED_AT_HEADER
    from test_sidecar_client import FakeSidecar

    fake = FakeSidecar()
    try:
        client = SidecarClient(fake.url, flush_interval=60)
        instrument(celery.Celery("pub", broker="memory://"), pipeline="images", client=client)
        first = {"id": "t-1", "task": "resize", "retries": 0}
        retry = {"id": "t-1", "task": "resize", "retries": 1}
        signals.before_task_publish.send(sender="resize", headers=first, body=None)
        signals.before_task_publish.send(sender="resize", headers=retry, body=None)
        signals.task_revoked.send(sender=None, request=SimpleNamespace(id="t-9"), terminated=False, signum=None, expired=False)
        assert client.flush(5)
        assert isinstance(first[QUEUED_AT_HEADER], float) and QUEUED_AT_HEADER not in retry
        strip = lambda e: {k: v for k, v in e.items() if k != "at"}
        assert [strip(e) for e in fake.events] == [
            {"type": "job_queued", "pipeline": "images", "job_id": "t-1"},
            {"type": "job_finished", "pipeline": "images", "job_id": "t-9", "outcome": "cancelled"},
        ]
        assert fake.events[0]["at"] == first[QUEUED_AT_HEADER]
    finally:
        fake.close()
