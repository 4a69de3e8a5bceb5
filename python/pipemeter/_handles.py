"""Scraper, pipeline and job handles: the API both the in-process meter and the sidecar client offer.
The timing (run(), stage()) is written once here; each side says how a run, a stage or a finish is recorded."""
import time

from ._catalog import JOB_OUTCOMES, SCRAPER_RUN_OUTCOMES, STAGE_OUTCOMES
from ._numbers import as_number, to_seconds
from ._source import source_label

__all__ = ["ScraperHandle", "JobHandle", "MeterScraper", "MeterPipeline", "MeterJob"]


class _Timed:
    """A context manager (and decorator-free) timing of one block: on exit it calls done(seconds, ok)."""

    __slots__ = ("_done", "_t0")

    def __init__(self, done):
        self._done = done

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._done(time.perf_counter() - self._t0, exc_type is None)
        # The exception, if any, goes on to the caller: metrics never swallow the workflow's errors.
        return False


class ScraperHandle:
    """The API of one scraper: items, schema errors and runs."""

    def item_created(self, item_type, source, n=1):
        raise NotImplementedError

    def schema_error(self, error_type, item_type, n=1):
        raise NotImplementedError

    def record_run(self, outcome, duration_seconds=None, at=None):
        raise NotImplementedError

    def run(self):
        """Time the ``with`` block as one run: outcome failure when it raises (the exception goes on),
        success and the last-success time when it completes."""
        return _Timed(lambda seconds, ok: self.record_run("success" if ok else "failure", duration_seconds=seconds))


class JobHandle:
    """The API of one job: its stages and its finish."""

    id = ""

    def stage_observed(self, name, seconds, outcome="success"):
        raise NotImplementedError

    def finish(self, outcome, media_seconds=None, failed_stage=None, at=None):
        raise NotImplementedError

    def stage(self, name):
        """Time the ``with`` block as one stage of this job: outcome failure when it raises (the exception
        goes on, and a failed finish is attributed to this stage)."""
        return _Timed(lambda seconds, ok: self.stage_observed(name, seconds, "success" if ok else "failure"))


def _name(kind, v):
    from ._meter import PipemeterError

    if not isinstance(v, str) or v == "":
        raise PipemeterError("E_HANDLE_NAME", "%s name %r is not a non-empty string; name it, e.g. %s" % (kind, v, '"beatport"' if kind == "scraper" else '"images"'))
    return v


def _names(kind, values):
    from ._meter import PipemeterError

    if values is None:
        return ()
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise PipemeterError("E_HANDLE_NAMES", "%s must be a list of strings, got %r" % (kind, values))
    return tuple(values)


class MeterScraper(ScraperHandle):
    """A scraper recorded in this process; its known series start at 0."""

    def __init__(self, name, meter, item_types=None, sources=None):
        self.name = _name("scraper", name)
        c = meter.catalog
        self._ctx = meter._ctx
        self._items = c["scraper_items_created_total"].family
        self._errors = c["scraper_schema_errors_total"].family
        self._last = c["scraper_last_success_timestamp_seconds"].family
        self._runs = {o: c["scraper_runs_total"].labels({"scraper": name, "outcome": o}) for o in SCRAPER_RUN_OUTCOMES}
        self._durations = {o: c["scraper_run_duration_seconds"].labels({"scraper": name, "outcome": o}) for o in SCRAPER_RUN_OUTCOMES}
        hosts = [source_label(s) for s in _names("sources", sources)] or [""]
        for item_type in _names("item_types", item_types):
            for host in hosts:
                self._items.series_for((name, item_type, host), True)

    def item_created(self, item_type, source, n=1):
        """Count n items of a type; ``source`` may be a full URL, only its host is kept."""
        f = self._items
        key = (self.name, item_type, source_label(source))
        try:
            s = f.series[key]
        except (KeyError, TypeError):  # a new label set, or a value that is not even hashable
            s = f.create(key)
            if s is None:
                return
        f.inc(s, n)

    def schema_error(self, error_type, item_type, n=1):
        f = self._errors
        key = (self.name, item_type, error_type)
        try:
            s = f.series[key]
        except (KeyError, TypeError):  # a new label set, or a value that is not even hashable
            s = f.create(key)
            if s is None:
                return
        f.inc(s, n)

    def record_run(self, outcome, duration_seconds=None, at=None):
        """Record a run measured elsewhere; ``at`` (datetime or epoch seconds, default now) is its end."""
        outcome = "success" if outcome == "success" else "failure"
        self._runs[outcome].inc()
        if duration_seconds is not None:
            self._durations[outcome].observe(duration_seconds)
        if outcome == "success":
            t = time.time() if at is None else to_seconds(at)
            if t is None:
                self._ctx.error("invalid_value")
            else:
                self._last.set(self._last.series_for((self.name,)), t)


class MeterPipeline:
    """A pipeline recorded in this process: jobs, stages, items, queue depth."""

    def __init__(self, name, meter, stages=None):
        self.name = _name("pipeline", name)
        c = meter.catalog
        self._ctx = meter._ctx
        one = {"pipeline": name}
        self._started = c["pipeline_jobs_started_total"].labels(one)
        self._in_progress = c["pipeline_jobs_in_progress"].labels(one)
        self._queue_depth = c["pipeline_queue_depth"].labels(one)
        self._queue_wait = c["pipeline_queue_wait_seconds"].labels(one)
        self._rtf = c["pipeline_realtime_factor"].labels(one)
        self._finished = {o: c["pipeline_jobs_finished_total"].labels({"pipeline": name, "outcome": o}) for o in JOB_OUTCOMES}
        self._durations = {o: c["pipeline_job_duration_seconds"].labels({"pipeline": name, "outcome": o}) for o in JOB_OUTCOMES}
        self._e2e = {o: c["pipeline_job_e2e_duration_seconds"].labels({"pipeline": name, "outcome": o}) for o in JOB_OUTCOMES}
        self._stages = c["pipeline_stage_duration_seconds"].family
        self._failures = c["pipeline_job_failures_total"].family
        self._items = c["pipeline_items_total"].family
        self._last = c["pipeline_last_success_timestamp_seconds"].family
        for stage in _names("stages", stages):
            for outcome in STAGE_OUTCOMES:
                self._stages.series_for((name, stage, outcome), True)
            self._failures.series_for((name, stage), True)

    def job(self, job_id, queued_at=None, initiated_at=None, started_at=None):
        """Start tracking one job in this process; its id travels as an exemplar, never as a label.
        Times are datetimes or epoch seconds; ``started_at`` defaults to now."""
        return MeterJob(self, str(job_id), queued_at, initiated_at, started_at)

    def record_started(self, job_id=None, queue_wait_seconds=None):
        self._started.inc()
        self._in_progress.inc()
        if queue_wait_seconds is not None:
            self._queue_wait.observe(queue_wait_seconds, _exemplar(job_id))

    def record_stage(self, stage, seconds, outcome="success", job_id=None):
        f = self._stages
        key = (self.name, stage, "failure" if outcome == "failure" else "success")
        try:
            s = f.series[key]
        except (KeyError, TypeError):  # a new label set, or a value that is not even hashable
            s = f.create(key)
            if s is None:
                return
        f.observe(s, seconds, _exemplar(job_id))

    def record_finished(self, outcome, duration_seconds=None, e2e_seconds=None, media_seconds=None, failed_stage=None, job_id=None, at=None):
        """Count a finished job, observe its durations and RTF, attribute a failure to its stage."""
        finished = self._finished.get(outcome) if isinstance(outcome, str) else None
        if finished is None:
            self._ctx.error("job_unknown_outcome")
            return
        ex = _exemplar(job_id)
        finished.inc(1, ex)
        self._in_progress.dec()
        if duration_seconds is not None:
            self._durations[outcome].observe(duration_seconds, ex)
            if media_seconds is not None:
                media = as_number(media_seconds)
                d = as_number(duration_seconds)
                if media is None:
                    self._ctx.error("invalid_value")
                elif media > 0 and d is not None:
                    self._rtf.observe(d / media, ex)
        if e2e_seconds is not None:
            self._e2e[outcome].observe(e2e_seconds, ex)
        if outcome == "failed":
            stage = failed_stage if failed_stage is not None else "unknown"
            s = self._failures.create((self.name, stage))
            if s is not None:
                self._failures.inc(s, 1, ex)
        elif outcome == "completed":
            t = time.time() if at is None else to_seconds(at)
            if t is not None:
                self._last.set(self._last.series_for((self.name,)), t)

    def items(self, outcome, count=1):
        """Count items a job processed, e.g. pages ``indexed`` or ``failed``."""
        s = self._items.create((self.name, outcome))
        if s is not None:
            self._items.inc(s, count)

    def set_queue_depth(self, n):
        self._queue_depth.set(n)

    def set_in_progress(self, n):
        """Override the in-progress gauge, e.g. after restoring a job table."""
        self._in_progress.set(n)


def _exemplar(job_id):
    return None if job_id is None else {"job_id": job_id}


class MeterJob(JobHandle):
    def __init__(self, pipeline, job_id, queued_at, initiated_at, started_at):
        self.pipeline = pipeline
        self.id = job_id
        self._failed_stage = None
        self._done = False
        ctx = pipeline._ctx
        started = to_seconds(started_at) if started_at is not None else time.time()
        if started is None:
            ctx.error("invalid_value")
            started = time.time()
        queued = _instant(queued_at, ctx)
        initiated = _instant(initiated_at, ctx)
        self._started = started
        self._e2e_from = initiated if initiated is not None else queued
        pipeline.record_started(job_id=job_id, queue_wait_seconds=None if queued is None else max(0.0, started - queued))

    def stage_observed(self, name, seconds, outcome="success"):
        """Record a stage measured elsewhere."""
        self.pipeline.record_stage(name, seconds, outcome, self.id)
        if outcome == "failure":
            self._failed_stage = name

    def finish(self, outcome, media_seconds=None, failed_stage=None, at=None):
        """Record the outcome, durations and RTF; a second finish is ignored and counted."""
        if self._done:
            self.pipeline._ctx.error("job_finished_twice")
            return
        self._done = True
        end = _instant(at, self.pipeline._ctx)
        if end is None:
            end = time.time()
        self.pipeline.record_finished(
            outcome,
            duration_seconds=max(0.0, end - self._started),
            e2e_seconds=None if self._e2e_from is None else max(0.0, end - self._e2e_from),
            media_seconds=media_seconds,
            failed_stage=failed_stage if failed_stage is not None else self._failed_stage,
            job_id=self.id,
            at=end,
        )


def _instant(t, ctx):
    if t is None:
        return None
    s = to_seconds(t)
    if s is None:
        ctx.error("invalid_value")
    return s
