"""The meter: the same behaviour as test/meter/*.test.ts (exact lines, refusals, cap, never raising, zero start)."""
import datetime as dt
import gzip
import threading
import urllib.request

import pytest
from prometheus_client import Counter as PromCounter
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from pipemeter import OVERFLOW, PipemeterError, create_meter
from pipemeter._catalog import INSTRUMENTATION_ERROR_REASONS

from conftest import lines, value

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.timezone.utc).timestamp()


def non_zero(ls):
    return [l for l in ls if not l.endswith(" 0.0")]


# --- custom families ---------------------------------------------------------------------------------------


def test_records_by_label_values_and_through_a_bound_handle(meter):
    hits = meter.counter(name="cache_hits_total", help="Cache lookups.", labels=["cache", "result"])
    hits.inc({"cache": "pages", "result": "hit"})
    hits.inc({"cache": "pages", "result": "hit"}, 2)
    miss = hits.labels({"cache": "pages", "result": "miss"})
    miss.inc()
    assert hits.labels({"cache": "pages", "result": "miss"}) is miss
    text = meter.metrics().decode()
    assert "# HELP cache_hits_total Cache lookups.\n# TYPE cache_hits_total counter\n" in text
    assert lines(meter, "cache_hits_total") == [
        'cache_hits_total{cache="pages",result="hit"} 3.0',
        'cache_hits_total{cache="pages",result="miss"} 1.0',
    ]


def test_gauges_and_histograms_with_cumulative_buckets_and_js_le_values(meter):
    depth = meter.gauge(name="work_queue_depth", help="Queued work.", labels=["queue"])
    depth.set({"queue": "a"}, 5)
    depth.inc({"queue": "a"}, 2)
    depth.dec({"queue": "a"})
    h = meter.histogram(name="fetch_duration_seconds", help="Fetch time.", labels=["site"], buckets=[0.1, 1, 10])
    for v in [0.05, 0.1, 0.5, 5, 50]:
        h.observe({"site": "x"}, v)
    assert lines(meter, "work_queue_depth") == ['work_queue_depth{queue="a"} 6.0']
    assert lines(meter, "fetch_duration_seconds") == [
        'fetch_duration_seconds_bucket{le="0.1",site="x"} 2.0',
        'fetch_duration_seconds_bucket{le="1",site="x"} 3.0',
        'fetch_duration_seconds_bucket{le="10",site="x"} 4.0',
        'fetch_duration_seconds_bucket{le="+Inf",site="x"} 5.0',
        'fetch_duration_seconds_sum{site="x"} 55.65',
        'fetch_duration_seconds_count{site="x"} 5.0',
    ]


def test_escapes_label_values(meter):
    c = meter.counter(name="odd_total", help="Odd values.", labels=["v"])
    c.inc({"v": 'a\\b"c\nd'})
    assert lines(meter, "odd_total") == ['odd_total{v="a\\\\b\\"c\\nd"} 1.0']


@pytest.mark.parametrize(
    "label, message",
    [
        ("job_id", "looks like an id"),
        ("crawl_id", "looks like an id"),
        ("url", "looks like an id"),
        ("uuid", "looks like an id"),
        ("email", "looks like an id"),
        ("timestamp", "looks like an id"),
        ("__name", "not valid"),
        ("1abc", "not valid"),
    ],
)
def test_refuses_label_names_with_the_fix(meter, label, message):
    with pytest.raises(PipemeterError, match=message) as err:
        meter.counter(name="x_total", help="X.", labels=[label])
    assert err.value.code == "E_FAMILY_LABEL"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "requests", "help": "R."}, 'end in "_total"; name it "requests_total"'),
        ({"name": "bad-name_total", "help": "R."}, "not valid"),
        ({"name": "ok_total", "help": ""}, "help is empty"),
        ({"name": "ok_total", "help": "R.", "labels": ["a", "a"]}, "listed twice"),
        ({"name": "ok_total", "help": "R.", "labels": "cache"}, "must be a list"),
    ],
)
def test_refuses_counters(meter, kwargs, message):
    with pytest.raises(PipemeterError, match=message):
        meter.counter(**kwargs)


@pytest.mark.parametrize("buckets", [[], [1, 1], [2, 1], [1, float("inf")], ["1"], None])
def test_refuses_histogram_buckets(meter, buckets):
    with pytest.raises(PipemeterError, match="buckets must be"):
        meter.histogram(name="h_seconds", help="H.", buckets=buckets)


def test_refuses_le_and_total_on_non_counters(meter):
    with pytest.raises(PipemeterError, match="reserved"):
        meter.histogram(name="h_seconds", help="H.", labels=["le"], buckets=[1])
    with pytest.raises(PipemeterError, match='only counter names end in "_total"'):
        meter.gauge(name="open_total", help="O.")


def test_names_both_owners_of_a_duplicate_family(meter):
    meter.counter(name="dup_total", help="D.")
    with pytest.raises(PipemeterError, match=r"already registered by meter\.counter\(\); a second registration came from meter\.counter\(\)") as err:
        meter.counter(name="dup_total", help="D.")
    assert err.value.code == "E_FAMILY_DUPLICATE"
    with pytest.raises(PipemeterError, match=r"already registered by the pipemeter catalog; a second registration came from meter\.gauge\(\)"):
        meter.gauge(name="pipeline_queue_depth", help="D.")


def test_prometheus_client_metrics_and_pipemeter_families_refuse_each_others_names(meter):
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PromCounter("scraper_runs_total", "x", registry=meter.registry)
    PromCounter("legacy_total", "x", registry=meter.registry)
    with pytest.raises(PipemeterError, match=r"already registered in meter\.registry"):
        meter.counter(name="legacy_total", help="L.")


def test_two_meters_in_one_process_stay_apart():
    a = create_meter(default_metrics=False)
    b = create_meter(default_metrics=False)
    a.counter(name="same_total", help="S.").inc({})
    b.counter(name="same_total", help="S.")
    assert lines(a, "same_total") == ["same_total 1.0"]
    assert lines(b, "same_total") == ["same_total 0.0"]


# --- series cap ----------------------------------------------------------------------------------------------


def test_folds_label_sets_past_the_cap_into_one_overflow_series_and_counts_them(meter):
    c = meter.counter(name="pages_total", help="Pages.", labels=["site", "kind"], max_series=2)
    c.inc({"site": "a", "kind": "x"})
    c.inc({"site": "b", "kind": "x"})
    c.inc({"site": "c", "kind": "x"}, 5)
    c.inc({"site": "d", "kind": "y"}, 7)
    c.inc({"site": "a", "kind": "x"})
    assert lines(meter, "pages_total") == [
        'pages_total{kind="x",site="a"} 2.0',
        'pages_total{kind="x",site="b"} 1.0',
        'pages_total{kind="%s",site="%s"} 12.0' % (OVERFLOW, OVERFLOW),
    ]
    overflow = lines(meter, "pipemeter_series_overflow_total")
    assert non_zero(overflow) == ['pipemeter_series_overflow_total{metric="pages_total"} 2.0']
    assert 'pipemeter_series_overflow_total{metric="scraper_items_created_total"} 0.0' in overflow
    for own in ["pipemeter_series_overflow_total", "pipemeter_instrumentation_errors_total", "pipemeter_build_info"]:
        assert not any('metric="%s"' % own in l for l in overflow)


def test_per_meter_cap_and_per_family_override_for_catalog_families():
    m = create_meter(default_metrics=False, max_series=1, families={"scraper_schema_errors_total": {"max_series": 3}})
    s = m.scraper("s")
    for t in ["a", "b", "c"]:
        s.item_created(t, "x.org")
        s.schema_error("validation", t)
    assert len(lines(m, "scraper_items_created_total")) == 2
    assert len(lines(m, "scraper_schema_errors_total")) == 3


# --- never raises ----------------------------------------------------------------------------------------


def bad_counter(m):
    return m.counter(name="bad_total", help="Bad calls land nowhere.", labels=["k"])


@pytest.mark.parametrize(
    "call, reason",
    [
        (lambda c: c.inc({"k": "a"}, float("nan")), "invalid_value"),
        (lambda c: c.inc({"k": "a"}, float("inf")), "invalid_value"),
        (lambda c: c.inc({"k": "a"}, "5"), "invalid_value"),
        (lambda c: c.inc({"k": "a"}, None), "invalid_value"),
        (lambda c: c.inc({"k": "a"}, True), "invalid_value"),
        (lambda c: c.inc({"k": "a"}, 10**400), "invalid_value"),
        (lambda c: c.inc({"k": "a"}, -1), "negative_increment"),
        (lambda c: c.labels({"k": "a"}).inc(-2), "negative_increment"),
        (lambda c: c.inc({}), "invalid_labels"),
        (lambda c: c.inc({"k": 5}), "invalid_labels"),
        (lambda c: c.inc({"k": None}), "invalid_labels"),
        (lambda c: c.inc({"k": "\ud800"}), "invalid_labels"),
        (lambda c: c.inc(None), "invalid_labels"),
        (lambda c: c.inc(["a"]), "invalid_labels"),
        (lambda c: c.labels({}).inc(), "invalid_labels"),
    ],
)
def test_a_bad_call_is_ignored_counted_and_logged_once(call, reason):
    logs = []
    m = create_meter(default_metrics=False, logger=logs.append)
    c = bad_counter(m)
    call(c)
    call(c)
    assert 'pipemeter_instrumentation_errors_total{reason="%s"} 2.0' % reason in lines(m, "pipemeter_instrumentation_errors_total")
    assert non_zero(lines(m, "bad_total")) == []
    assert len(logs) == 1 and reason in logs[0]


def test_bad_handle_calls_never_raise(meter):
    s = meter.scraper("s")
    s.item_created(None, None)
    s.item_created("track", None)  # source None is a URL that is not one: "invalid", like the Node module
    s.item_created(5, "x.org", n="many")
    s.schema_error(None, ["x"])
    s.record_run("success", duration_seconds="long", at="yesterday")
    p = meter.pipeline("p")
    j = p.job(object(), queued_at="yesterday", started_at="soon")
    j.stage_observed(None, "slow")
    j.finish("exploded")
    j.finish("completed", media_seconds="12")
    p.items(None, -3)
    p.set_queue_depth(float("nan"))
    assert lines(meter, "scraper_items_created_total") == ['scraper_items_created_total{item_type="track",scraper="s",source="invalid"} 1.0']
    errors = {l.split('"')[1]: float(l.rsplit(" ", 1)[1]) for l in lines(meter, "pipemeter_instrumentation_errors_total")}
    assert errors["invalid_labels"] == 5
    assert errors["job_unknown_outcome"] == 1
    assert errors["job_finished_twice"] == 1
    assert errors["invalid_value"] >= 5


def test_nan_and_infinite_observations_and_gauge_values_are_ignored(meter):
    h = meter.histogram(name="h_seconds", help="H.", buckets=[1])
    g = meter.gauge(name="g_bytes", help="G.")
    h.observe({}, float("nan"))
    h.observe({}, float("-inf"))
    g.set({}, float("nan"))
    g.inc({}, float("inf"))
    assert "h_seconds_count 0.0" in lines(meter, "h_seconds")
    assert lines(meter, "g_bytes") == ["g_bytes 0.0"]
    assert 'pipemeter_instrumentation_errors_total{reason="invalid_value"} 4.0' in lines(meter, "pipemeter_instrumentation_errors_total")


def test_a_100kb_label_value_is_recorded_as_the_node_module_does(meter):
    """The Node module bounds the number of series, not a value's length; so does this one (the sidecar refuses names over 64 characters)."""
    s = meter.scraper("s")
    s.item_created("t" * 100_000, "https://" + "h" * 100_000 + ".org/")
    assert value(meter, "scraper_items_created_total", scraper="s", item_type="t" * 100_000, source="invalid") == 1.0


def test_concurrent_recording_from_threads_loses_nothing(meter):
    c = meter.counter(name="hits_total", help="H.", labels=["k"])
    h = meter.histogram(name="lat_seconds", help="L.", buckets=[1])

    def work():
        for _ in range(20000):
            c.inc({"k": "a"})
            h.observe({}, 0.5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lines(meter, "hits_total") == ['hits_total{k="a"} 80000.0']
    assert "lat_seconds_count 80000.0" in lines(meter, "lat_seconds")


# --- self families, default collectors -------------------------------------------------------------------


def test_build_info_and_every_error_reason_start_at_once(meter):
    text = meter.metrics().decode()
    assert 'pipemeter_build_info{version="0.1.0"} 1.0' in text
    assert len(lines(meter, "pipemeter_instrumentation_errors_total")) == len(INSTRUMENTATION_ERROR_REASONS)
    # Sidecar, probe and broker families have no series in a library meter.
    assert "pipemeter_ingest_events_total{" not in text and "# TYPE probe_success" not in text


def test_default_collectors_are_on_by_default():
    text = create_meter().metrics().decode()
    assert "# TYPE process_cpu_seconds_total counter" in text
    assert "# TYPE python_info gauge" in text


# --- scrapers --------------------------------------------------------------------------------------------


def test_scraper_starts_declared_item_types_and_both_run_outcomes_at_zero(meter):
    meter.scraper("beatport", item_types=["track", "artist"], sources=["https://www.beatport.com/"])
    assert lines(meter, "scraper_items_created_total") == [
        'scraper_items_created_total{item_type="track",scraper="beatport",source="www.beatport.com"} 0.0',
        'scraper_items_created_total{item_type="artist",scraper="beatport",source="www.beatport.com"} 0.0',
    ]
    assert lines(meter, "scraper_runs_total") == [
        'scraper_runs_total{outcome="success",scraper="beatport"} 0.0',
        'scraper_runs_total{outcome="failure",scraper="beatport"} 0.0',
    ]
    text = meter.metrics().decode()
    assert 'scraper_run_duration_seconds_count{outcome="failure",scraper="beatport"} 0.0' in text
    assert "scraper_last_success_timestamp_seconds{" not in text


def test_scraper_counts_items_by_host_and_schema_errors_by_type(meter):
    s = meter.scraper("mixesdb")
    s.item_created("track", "https://www.mixesdb.com/w/2019-01-01_-_Set")
    s.item_created("track", "https://www.mixesdb.com/w/other", 3)
    s.item_created("playlist", "not a url")
    s.schema_error("validation", "track")
    s.schema_error("http_error", "track", 2)
    assert lines(meter, "scraper_items_created_total") == [
        'scraper_items_created_total{item_type="track",scraper="mixesdb",source="www.mixesdb.com"} 4.0',
        'scraper_items_created_total{item_type="playlist",scraper="mixesdb",source="invalid"} 1.0',
    ]
    assert lines(meter, "scraper_schema_errors_total") == [
        'scraper_schema_errors_total{error_type="validation",item_type="track",scraper="mixesdb"} 1.0',
        'scraper_schema_errors_total{error_type="http_error",item_type="track",scraper="mixesdb"} 2.0',
    ]


def test_run_times_the_block_sets_last_success_and_counts_a_failure_and_reraises(meter):
    import time

    s = meter.scraper("youtube")
    before = time.time()
    with s.run():
        pass
    with pytest.raises(RuntimeError, match="403"):
        with s.run():
            raise RuntimeError("403")
    assert lines(meter, "scraper_runs_total") == [
        'scraper_runs_total{outcome="success",scraper="youtube"} 1.0',
        'scraper_runs_total{outcome="failure",scraper="youtube"} 1.0',
    ]
    last = value(meter, "scraper_last_success_timestamp_seconds", scraper="youtube")
    assert before <= last <= time.time()
    assert meter.scraper("youtube") is s


def test_record_run_with_a_datetime_end(meter):
    s = meter.scraper("reddit")
    s.record_run("success", duration_seconds=12.5, at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    s.record_run("failure", duration_seconds=700)
    assert value(meter, "scraper_last_success_timestamp_seconds", scraper="reddit") == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    text = meter.metrics().decode()
    assert 'scraper_run_duration_seconds_bucket{le="10",outcome="success",scraper="reddit"} 0.0\n' in text
    assert 'scraper_run_duration_seconds_bucket{le="30",outcome="success",scraper="reddit"} 1.0\n' in text
    assert 'scraper_run_duration_seconds_sum{outcome="failure",scraper="reddit"} 700.0\n' in text


# --- pipelines -------------------------------------------------------------------------------------------


def test_job_times_give_queue_wait_duration_e2e_rtf_in_progress_and_last_success(meter):
    video = meter.pipeline("video")
    job = video.job("job-8f3a", initiated_at=T0, queued_at=dt.datetime.fromtimestamp(T0 + 2, dt.timezone.utc), started_at=T0 + 32)
    assert 'pipeline_jobs_in_progress{pipeline="video"} 1.0' in lines(meter, "pipeline_jobs_in_progress")
    job.stage_observed("transcription", 41.2)
    job.finish("completed", media_seconds=312, at=T0 + 32 + 156)
    ls = lambda f: lines(meter, f)
    assert ls("pipeline_jobs_started_total") == ['pipeline_jobs_started_total{pipeline="video"} 1.0']
    assert ls("pipeline_jobs_in_progress") == ['pipeline_jobs_in_progress{pipeline="video"} 0.0']
    assert non_zero(ls("pipeline_jobs_finished_total")) == ['pipeline_jobs_finished_total{outcome="completed",pipeline="video"} 1.0']
    assert 'pipeline_queue_wait_seconds_sum{pipeline="video"} 30.0' in ls("pipeline_queue_wait_seconds")
    assert 'pipeline_job_duration_seconds_sum{outcome="completed",pipeline="video"} 156.0' in ls("pipeline_job_duration_seconds")
    assert 'pipeline_job_e2e_duration_seconds_sum{outcome="completed",pipeline="video"} 188.0' in ls("pipeline_job_e2e_duration_seconds")
    assert 'pipeline_realtime_factor_sum{pipeline="video"} 0.5' in ls("pipeline_realtime_factor")
    assert 'pipeline_realtime_factor_bucket{le="0.5",pipeline="video"} 1.0' in ls("pipeline_realtime_factor")
    assert 'pipeline_stage_duration_seconds_sum{outcome="success",pipeline="video",stage="transcription"} 41.2' in ls("pipeline_stage_duration_seconds")
    assert len(ls("pipeline_last_success_timestamp_seconds")) == 1
    assert value(meter, "pipeline_last_success_timestamp_seconds", pipeline="video") == T0 + 188


def test_a_failed_job_is_attributed_to_the_stage_that_raised_and_the_error_goes_on(meter):
    job = meter.pipeline("video", stages=["downloading", "transcription"]).job("v-2")
    with job.stage("downloading"):
        pass
    with pytest.raises(ValueError, match="whisper crashed"):
        with job.stage("transcription"):
            raise ValueError("whisper crashed")
    job.finish("failed")
    assert lines(meter, "pipeline_job_failures_total") == [
        'pipeline_job_failures_total{pipeline="video",stage="downloading"} 0.0',
        'pipeline_job_failures_total{pipeline="video",stage="transcription"} 1.0',
    ]
    text = meter.metrics().decode()
    assert 'pipeline_stage_duration_seconds_count{outcome="failure",pipeline="video",stage="transcription"} 1.0' in text
    assert 'pipeline_stage_duration_seconds_count{outcome="success",pipeline="video",stage="downloading"} 1.0' in text
    assert "pipeline_last_success_timestamp_seconds{" not in text


def test_items_and_queue_depth(meter):
    crawl = meter.pipeline("crawl")
    crawl.items("indexed", 3)
    crawl.items("failed")
    crawl.set_queue_depth(17)
    assert lines(meter, "pipeline_items_total") == [
        'pipeline_items_total{outcome="indexed",pipeline="crawl"} 3.0',
        'pipeline_items_total{outcome="failed",pipeline="crawl"} 1.0',
    ]
    assert lines(meter, "pipeline_queue_depth") == ['pipeline_queue_depth{pipeline="crawl"} 17.0']


def test_the_job_id_is_an_exemplar_in_openmetrics_only(meter):
    meter.pipeline("video").job("job-8f3a", started_at=T0).stage_observed("indexing", 0.3)
    om = meter.metrics(open_metrics=True).decode()
    bucket = [l for l in om.split("\n") if l.startswith('pipeline_stage_duration_seconds_bucket{le="0.5",')]
    assert len(bucket) == 1 and ' # {job_id="job-8f3a"} 0.3 ' in bucket[0]
    assert "job-8f3a" not in meter.metrics().decode()
    # prometheus_client's own OpenMetrics parser reads it back.
    exemplars = [s.exemplar for f in parse_openmetrics(om) for s in f.samples if s.exemplar is not None]
    assert [(e.labels, e.value) for e in exemplars] == [({"job_id": "job-8f3a"}, 0.3)]


def test_an_exemplar_over_128_characters_is_left_off(meter):
    c = meter.counter(name="ex_total", help="E.")
    c.inc({}, 1, {"job_id": "a" * 122})  # 6 + 122 = 128: kept
    c.inc({}, 1, {"job_id": "b" * 123})  # 129: left off, the earlier one stays
    om = meter.metrics(open_metrics=True).decode()
    assert 'ex_total 2.0 # {job_id="%s"} 1.0' % ("a" * 122) in om


# --- exposition over HTTP --------------------------------------------------------------------------------


def test_standalone_server_negotiates_openmetrics_gzip_and_answers_404_elsewhere(meter):
    meter.scraper("s").item_created("track", "https://x.org/1")
    server = meter.start_http_server(0, addr="127.0.0.1")
    try:
        base = "http://127.0.0.1:%d" % server.port
        assert server.url == base + "/metrics"
        with urllib.request.urlopen(base + "/metrics") as r:
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert b'scraper_items_created_total{item_type="track",scraper="s",source="x.org"} 1.0' in r.read()
        req = urllib.request.Request(base + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req) as r:
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            assert r.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(r.read()).endswith(b"# EOF\n")
        with urllib.request.urlopen(base + "/") as r:
            assert b'<a href="/metrics">' in r.read()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/nope")
        assert err.value.code == 404
    finally:
        server.close()


def test_wsgi_app(meter):
    app = meter.wsgi_app()
    got = {}
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "HTTP_ACCEPT": "application/openmetrics-text"}, lambda s, h: got.update(status=s, headers=dict(h))))
    assert got["status"] == "200 OK" and body.endswith(b"# EOF\n")


def test_asgi_app_as_starlette_would_call_it(meter):
    import asyncio

    meter.pipeline("images").items("done")
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": [(b"accept", b"text/plain")], "query_string": b""}
    asyncio.run(meter.asgi_app()(scope, receive, send))
    assert sent[0]["status"] == 200
    assert (b"content-type", b"text/plain; version=0.0.4; charset=utf-8") in sent[0]["headers"]
    assert b'pipeline_items_total{outcome="done",pipeline="images"} 1.0' in sent[1]["body"]
    # A plain function would be taken by Starlette for a request handler; the app is an object, so it is mounted as ASGI.
    import inspect

    assert not inspect.isfunction(meter.asgi_app()) and not inspect.ismethod(meter.asgi_app())


def test_expire_idle_drops_idle_series_and_keeps_written_and_pinned_ones(meter):
    c = meter.counter(name="seen_total", help="S.", labels=["k"])
    c.inc({"k": "idle"})
    c.inc({"k": "busy"})
    c.labels({"k": "pinned"}).inc()
    meter.expire_idle(60, now=0)
    c.inc({"k": "busy"})
    assert meter.expire_idle(60, now=30) == 0
    c.inc({"k": "busy"})
    assert meter.expire_idle(60, now=61) == 1
    assert lines(meter, "seen_total") == ['seen_total{k="busy"} 3.0', 'seen_total{k="pinned"} 1.0']


@pytest.mark.parametrize("name", [None, "", 5, ["beatport"]])
def test_a_handle_name_that_is_not_a_string_is_refused_at_declaration(meter, name):
    from pipemeter import SidecarClient

    for declare in (meter.scraper, meter.pipeline, SidecarClient("http://127.0.0.1:9").scraper, SidecarClient("http://127.0.0.1:9").pipeline):
        with pytest.raises(PipemeterError, match="is not a non-empty string") as err:
            declare(name)
        assert err.value.code == "E_HANDLE_NAME"


def test_a_cap_of_zero_folds_everything(meter):
    c = meter.counter(name="none_total", help="N.", labels=["k"], max_series=0)
    c.inc({"k": "a"})
    assert lines(meter, "none_total") == ['none_total{k="%s"} 1.0' % OVERFLOW]
