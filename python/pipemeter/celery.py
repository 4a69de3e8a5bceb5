"""Celery: one call instruments an app, in the publisher and in the worker.

    from pipemeter.celery import instrument, stage
    instrument(app, pipeline="images", sidecar_url="http://127.0.0.1:9465")

    @app.task
    def process(url):
        with stage("download"):
            ...

The job id is Celery's task id (an exemplar, never a label). ``before_task_publish`` sends ``job_queued`` from the
publisher and stamps the message with its queue time; ``task_prerun`` starts the job (queue wait from that stamp);
``task_success``, ``task_failure`` and ``task_revoked`` finish it as ``completed``, ``failed`` and ``cancelled``.
A retry (``task_retry``) is counted in ``pipeline_items_total{outcome="retried"}``; the job stays in progress and
its next attempt continues it, so its duration runs from the first start to the final finish.

With ``sidecar_url`` (or ``client=``) events go to ``pipemeter serve``: right for prefork workers, whose children
each have their own memory. With ``meter=`` they are recorded in this process (solo or threads pool)."""
import threading
import time

from ._sidecar import SidecarClient

__all__ = ["instrument", "stage", "QUEUED_AT_HEADER", "RETRIED"]

#: The message header carrying the publisher's clock at publish time (epoch seconds).
QUEUED_AT_HEADER = "pipemeter_queued_at"
#: The pipeline_items_total outcome a retry is counted under.
RETRIED = "retried"

_current = threading.local()
_active = None


class _Instrumentation:
    def __init__(self, app, pipeline, recorder, client):
        self.app = app
        self.recorder = recorder
        self.client = client
        self.pipeline = recorder.pipeline(pipeline)
        self.jobs = {}
        self.lock = threading.Lock()

    # --- publisher ---------------------------------------------------------------------------------------

    def before_task_publish(self, sender=None, headers=None, **_):
        if not isinstance(headers, dict):
            return
        task_id = headers.get("id")
        if task_id is None or headers.get("retries") or QUEUED_AT_HEADER in headers:
            # A retry re-publishes the same job: it is still in progress, not queued anew.
            return
        now = time.time()
        headers[QUEUED_AT_HEADER] = now
        if self.client is not None:
            self.pipeline.job_queued(task_id, at=now)

    # --- worker ------------------------------------------------------------------------------------------

    def task_prerun(self, sender=None, task_id=None, task=None, **_):
        if task_id is None:
            return
        request = getattr(task, "request", None)
        retries = getattr(request, "retries", 0) or 0
        queued_at = getattr(request, QUEUED_AT_HEADER, None)
        with self.lock:
            job = self.jobs.get(task_id)
        if job is None:
            if retries and self.client is not None:
                # The first attempt started the job in the sidecar; this attempt continues it.
                job = self.pipeline.resumed(task_id)
            else:
                job = self.pipeline.job(task_id, queued_at=queued_at if isinstance(queued_at, (int, float)) else None)
            with self.lock:
                self.jobs[task_id] = job
        _current.job = job

    def task_retry(self, sender=None, request=None, **_):
        self.pipeline.items(RETRIED)
        task_id = getattr(request, "id", None)
        if self.client is not None and task_id is not None:
            # The next attempt may run in another process: this one lets go of the handle.
            with self.lock:
                self.jobs.pop(task_id, None)
        _current.job = None

    def task_success(self, sender=None, **_):
        task_id = getattr(getattr(sender, "request", None), "id", None)
        self._finish(task_id, "completed")

    def task_failure(self, sender=None, task_id=None, **_):
        self._finish(task_id, "failed")

    def task_revoked(self, sender=None, request=None, **_):
        self._finish(getattr(request, "id", None), "cancelled", unknown_ok=True)

    def task_postrun(self, **_):
        _current.job = None

    def worker_process_shutdown(self, **_):
        if self.client is not None:
            self.client.flush(timeout=5.0)

    def _finish(self, task_id, outcome, unknown_ok=False):
        if task_id is None:
            return
        with self.lock:
            job = self.jobs.pop(task_id, None)
        if job is not None:
            job.finish(outcome)
        elif unknown_ok and self.client is not None:
            # Revoked before it ran (the revoke is seen by the main worker process): the sidecar still counts it.
            self.pipeline.record_finished(outcome, job_id=task_id)


def instrument(app, pipeline, sidecar_url=None, token_file=None, client=None, meter=None):
    """Record the app's tasks as jobs of ``pipeline``: to a sidecar (``sidecar_url`` or ``client``) or in process
    (``meter``). Call it where the app is defined, so publishers and workers both run it. Returns the recorder."""
    from celery import signals

    from ._meter import PipemeterError

    given = [x for x in (sidecar_url, client, meter) if x is not None]
    if len(given) != 1:
        raise PipemeterError("E_CELERY_RECORDER", "instrument(app, pipeline=...): give one of sidecar_url=, client= or meter=")
    if sidecar_url is not None:
        client = SidecarClient(sidecar_url, token_file=token_file)
    recorder = client if client is not None else meter
    global _active
    if _active is not None:
        _disconnect(_active)
    inst = _Instrumentation(app, pipeline, recorder, client)
    for name in ("before_task_publish", "task_prerun", "task_retry", "task_success", "task_failure", "task_revoked", "task_postrun", "worker_process_shutdown"):
        getattr(signals, name).connect(getattr(inst, name), weak=False)
    _active = inst
    return recorder


def _disconnect(inst):
    from celery import signals

    for name in ("before_task_publish", "task_prerun", "task_retry", "task_success", "task_failure", "task_revoked", "task_postrun", "worker_process_shutdown"):
        getattr(signals, name).disconnect(getattr(inst, name))


class _Stage:
    """Time one stage of the current task's job (or, outside a task, of the pipeline with no job)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        seconds = time.perf_counter() - self._t0
        outcome = "success" if exc_type is None else "failure"
        job = getattr(_current, "job", None)
        if job is not None:
            job.stage_observed(self.name, seconds, outcome)
        elif _active is not None:
            _active.pipeline.record_stage(self.name, seconds, outcome)
        return False


def stage(name):
    """``with stage("download"):`` inside a task records one stage of its job; outcome failure when it raises
    (the exception goes on, and the job's failure is attributed to this stage)."""
    return _Stage(name)
