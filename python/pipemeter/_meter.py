"""The meter: owns its families (the catalog's and custom ones) in its own CollectorRegistry, the scraper and
pipeline handles, and the exposition (bytes, ASGI, WSGI, a standalone server). A port of src/meter/meter.ts."""
import gzip
import html
import logging
import math
import re
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_latest_openmetrics

from ._catalog import FAMILIES, ID_LIKE_LABEL, INSTRUMENTATION_ERROR_REASONS, VERSION
from ._family import Family
from ._handles import MeterPipeline, MeterScraper, _name
from ._instruments import Counter, Gauge, Histogram

__all__ = ["DEFAULT_MAX_SERIES", "Meter", "MetricsServer", "PipemeterError", "create_meter"]

DEFAULT_MAX_SERIES = 10000

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ID_LIKE = re.compile(ID_LIKE_LABEL)
_INSTRUMENTS = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


class PipemeterError(Exception):
    """A declaration pipemeter refuses, with a code and a message that says what to fix. Recording never raises it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _Context:
    """What a family reports back to its meter: ignored calls (counted, logged once per reason) and folded series."""

    def __init__(self, meter):
        self._meter = meter
        self._logged = set()

    def error(self, reason):
        m = self._meter
        f = m.catalog["pipemeter_instrumentation_errors_total"].family
        f.inc(f.series_for((reason,)), 1.0)
        if reason not in self._logged:
            self._logged.add(reason)
            m._log(
                "pipemeter[%s]: ignored a recording call (%s); counted in pipemeter_instrumentation_errors_total, "
                "further ones are counted, not logged" % (m.service, reason)
            )

    def overflow(self, name):
        f = self._meter.catalog["pipemeter_series_overflow_total"].family
        f.inc(f.series_for((name,)), 1.0)


class Meter:
    """pipemeter's families over one CollectorRegistry of its own: no globals, two meters never collide."""

    def __init__(self, service="pipemeter", max_series=DEFAULT_MAX_SERIES, families=None, default_metrics=True, logger=None):
        self.service = service
        #: The prometheus_client registry: pipemeter's families are in it; register your own metrics here too.
        self.registry = CollectorRegistry(auto_describe=True)
        self._max_series = max_series
        self._overrides = dict(families or {})
        self._logger = logger
        self._families = {}
        self._scrapers = {}
        self._pipelines = {}
        self._lock = threading.Lock()
        self._ctx = _Context(self)
        #: The catalog families as instruments, by family name.
        self.catalog = {}
        for d in FAMILIES:
            # The HTTP server families belong to the Node module's meter.http(), which registers them on first use;
            # the cluster families to its cluster aggregation (a forking Python worker sends to the sidecar instead).
            if d["domain"] in ("http", "cluster"):
                continue
            self.catalog[d["name"]] = _INSTRUMENTS[d["type"]](self._add(d, "the pipemeter catalog"))
        for reason in INSTRUMENTATION_ERROR_REASONS:
            self.catalog["pipemeter_instrumentation_errors_total"].family.series_for((reason,), True)
        for family, _owner in self._families.values():
            self._start_overflow_at_zero(family)
        self.catalog["pipemeter_build_info"].set({"version": VERSION}, 1)
        if default_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    # --- handles ----------------------------------------------------------------------------------------

    def scraper(self, name, item_types=None, sources=None):
        """The handle of one scraper (the same handle for the same name); declared item types (with each
        of ``sources``, URLs or hosts, else an empty source) start at 0."""
        _name("scraper", name)
        with self._lock:
            s = self._scrapers.get(name)
            if s is None:
                s = self._scrapers[name] = MeterScraper(name, self, item_types=item_types, sources=sources)
        return s

    def pipeline(self, name, stages=None):
        """The handle of one pipeline; declared stages start at 0."""
        _name("pipeline", name)
        with self._lock:
            p = self._pipelines.get(name)
            if p is None:
                p = self._pipelines[name] = MeterPipeline(name, self, stages=stages)
        return p

    # --- custom families --------------------------------------------------------------------------------

    def counter(self, name, help, labels=(), unit=None, max_series=None):
        """A counter family of your own; its name ends in ``_total``."""
        if not isinstance(name, str) or not name.endswith("_total"):
            raise PipemeterError("E_FAMILY_NAME", 'counter "%s": counter names end in "_total"; name it "%s_total"' % (name, name))
        return Counter(self._add(self._custom("counter", name, help, labels, unit, None), "meter.counter()", max_series))

    def gauge(self, name, help, labels=(), unit=None, max_series=None):
        return Gauge(self._add(self._custom("gauge", name, help, labels, unit, None), "meter.gauge()", max_series))

    def histogram(self, name, help, buckets, labels=(), unit=None, max_series=None):
        b = buckets
        ok = isinstance(b, (list, tuple)) and len(b) > 0
        if ok:
            try:
                ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in b) and all(b[i] > b[i - 1] for i in range(1, len(b)))
            except TypeError:
                ok = False
        if not ok:
            raise PipemeterError("E_FAMILY_BUCKETS", 'histogram "%s": buckets must be finite upper bounds in increasing order, e.g. [0.1, 0.5, 1, 5]' % (name,))
        return Histogram(self._add(self._custom("histogram", name, help, labels, unit, b), "meter.histogram()", max_series))

    def family(self, name):
        """The family of this name (catalog or custom), or None."""
        f = self._families.get(name)
        return f[0] if f is not None else None

    def expire_idle(self, ttl_seconds, now=None):
        """Drop series (of any family) not written for ttl_seconds; handles and declared series stay."""
        now = time.time() if now is None else now
        return sum(f.expire_idle(now, ttl_seconds) for f, _ in list(self._families.values()))

    # --- exposition -------------------------------------------------------------------------------------

    def metrics(self, open_metrics=False):
        """The exposition as bytes: text 0.0.4, or OpenMetrics (with job ids as exemplars and ``# EOF``)."""
        return (generate_latest_openmetrics if open_metrics else generate_latest)(self.registry)

    def asgi_app(self):
        """An ASGI app answering every GET with the metrics; mount it at /metrics (FastAPI, Starlette)."""
        return _AsgiMetrics(self.registry)

    def wsgi_app(self):
        """A WSGI app answering every GET with the metrics (Flask, Django, gunicorn)."""
        return _WsgiMetrics(self.registry)

    def start_http_server(self, port=9464, addr="0.0.0.0", path="/metrics"):
        """Serve ``path`` (and a landing page at /) from a daemon thread; returns a closable server.
        Port 0 picks a free port (see ``server.port``)."""
        return MetricsServer(self, port, addr, path)

    # --- internals --------------------------------------------------------------------------------------

    def _log(self, message):
        if self._logger is not None:
            try:
                self._logger(message)
            except Exception:
                pass
        else:
            logging.getLogger("pipemeter").warning(message)

    def _custom(self, type_, name, help, labels, unit, buckets):
        if not isinstance(name, str) or _METRIC_NAME.fullmatch(name) is None:
            raise PipemeterError("E_FAMILY_NAME", 'metric name "%s" is not valid; use letters, digits and underscores, e.g. "cache_hits_total"' % (name,))
        if type_ != "counter" and name.endswith("_total"):
            raise PipemeterError("E_FAMILY_NAME", '%s "%s": only counter names end in "_total"; drop the suffix or make it a counter' % (type_, name))
        if not isinstance(help, str) or help.strip() == "":
            raise PipemeterError("E_FAMILY_HELP", "%s: help is empty; say in one sentence what the family counts" % (name,))
        if labels is None:
            labels = ()
        if isinstance(labels, str):
            raise PipemeterError("E_FAMILY_LABEL", '%s: labels must be a list of names, e.g. ["cache", "result"], not the string "%s"' % (name, labels))
        seen = set()
        for label in labels:
            if not isinstance(label, str) or _LABEL_NAME.fullmatch(label) is None or label.startswith("__"):
                raise PipemeterError("E_FAMILY_LABEL", '%s: label name "%s" is not valid; use letters, digits and underscores, not starting with "__"' % (name, label))
            if _ID_LIKE.search(label):
                raise PipemeterError(
                    "E_FAMILY_LABEL",
                    '%s: label "%s" looks like an id, URL or timestamp and would make the series count unbounded; '
                    "attach ids as exemplars and reduce URLs to their host" % (name, label),
                )
            if type_ == "histogram" and label in ("le", "quantile"):
                raise PipemeterError("E_FAMILY_LABEL", '%s: label "%s" is reserved for histogram buckets; rename it' % (name, label))
            if label in seen:
                raise PipemeterError("E_FAMILY_LABEL", '%s: label "%s" is listed twice' % (name, label))
            seen.add(label)
        d = {"name": name, "help": help, "type": type_, "labels": tuple(labels), "domain": "custom"}
        if unit:
            d["unit"] = unit
        if buckets is not None:
            d["buckets"] = tuple(float(x) for x in buckets)
        return d

    def _add(self, d, owner, max_series=None):
        name = d["name"]
        prior = self._families.get(name)
        if prior is not None:
            raise PipemeterError(
                "E_FAMILY_DUPLICATE",
                'metric family "%s" is already registered by %s; a second registration came from %s. Use the first, or choose another name' % (name, prior[1], owner),
            )
        o = self._overrides.get(name) or {}
        # pipemeter's own families are bounded by construction (one series per family, reason or version):
        # a small meter-wide cap must not fold them, or the overflow counter would overflow into itself.
        if d["domain"] == "self":
            cap = math.inf
        else:
            cap = next((c for c in (o.get("max_series"), max_series, self._max_series) if c is not None))
        family = Family(d, cap, self._ctx, buckets=o.get("buckets"))
        try:
            self.registry.register(family)
        except ValueError as err:
            raise PipemeterError(
                "E_FAMILY_DUPLICATE",
                'metric family "%s" is already registered in meter.registry (prometheus_client: %s); a second registration came from %s' % (name, err, owner),
            ) from err
        # A family without labels has exactly one series: it starts at 0. A sidecar family is started by the
        # sidecar part that writes it, so a library meter never shows it.
        if not family.label_names and d["domain"] != "sidecar":
            family.series_for((), True)
        self._families[name] = (family, owner)
        if "pipemeter_series_overflow_total" in self.catalog:
            self._start_overflow_at_zero(family)
        return family

    def _start_overflow_at_zero(self, family):
        """The family's overflow counter series at 0, so rate() and the dashboards have it from the start."""
        if family.domain != "self":
            self.catalog["pipemeter_series_overflow_total"].family.series_for((family.name,), True)


def create_meter(service="pipemeter", max_series=DEFAULT_MAX_SERIES, families=None, default_metrics=True, logger=None):
    """A meter that owns its registry: two meters in one process never collide.

    ``families`` overrides catalog families by name: ``{"pipeline_stage_duration_seconds": {"buckets": [...], "max_series": 500}}``.
    ``default_metrics`` adds prometheus_client's process, platform and GC collectors. ``logger`` takes the one-line
    warnings (an ignored call, once per reason); default the ``pipemeter`` logging logger."""
    return Meter(service=service, max_series=max_series, families=families, default_metrics=default_metrics, logger=logger)


# --- HTTP --------------------------------------------------------------------------------------------------


def _negotiate(registry, accept, accept_encoding):
    """The body and headers Prometheus asked for: OpenMetrics when Accept names it, text 0.0.4 otherwise, gzip when asked."""
    encoder, content_type = choose_encoder(accept or "")
    body = encoder(registry)
    headers = [("Content-Type", content_type)]
    if any(p.split(";")[0].strip().lower() == "gzip" for p in (accept_encoding or "").split(",")):
        body = gzip.compress(body)
        headers.append(("Content-Encoding", "gzip"))
    return body, headers


class _AsgiMetrics:
    """An ASGI app (a callable object, so Starlette's add_route and mount take it as raw ASGI)."""

    def __init__(self, registry):
        self.registry = registry

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope.get("type") != "http":
            return
        headers = {}
        for k, v in scope.get("headers") or ():
            headers.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body, out = _negotiate(self.registry, ",".join(headers.get("accept", ())), ",".join(headers.get("accept-encoding", ())))
        await send({"type": "http.response.start", "status": 200, "headers": [(k.lower().encode(), v.encode()) for k, v in out]})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


class _WsgiMetrics:
    def __init__(self, registry):
        self.registry = registry

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        body, headers = _negotiate(self.registry, environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"))
        start_response("200 OK", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # A restarted worker gets its port back at once instead of waiting out TIME_WAIT.
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class MetricsServer:
    """A standalone /metrics server on a daemon thread (what ``meter.start_http_server()`` returns)."""

    def __init__(self, meter, port, addr, path):
        metrics = _WsgiMetrics(meter.registry)
        landing = (
            '<!doctype html><html><head><title>%s metrics</title></head><body><h1>%s</h1><p><a href="%s">Metrics</a></p></body></html>\n'
            % (html.escape(meter.service), html.escape(meter.service), html.escape(path))
        ).encode()

        def app(environ, start_response):
            at = environ.get("PATH_INFO", "/")
            if at == path:
                return metrics(environ, start_response)
            if at == "/":
                start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
                return [landing]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [("not found; metrics are at %s\n" % path).encode()]

        server_class = _ThreadingWSGIServer
        if ":" in addr:
            import socket

            class _V6(_ThreadingWSGIServer):
                address_family = socket.AF_INET6

            server_class = _V6
        self._httpd = make_server(addr, port, app, server_class, handler_class=_QuietHandler)
        self.port = self._httpd.server_address[1]
        host = "localhost" if addr in ("0.0.0.0", "::", "") else addr
        self.url = "http://%s:%d%s" % ("[%s]" % host if ":" in host else host, self.port, path)
        # A short poll: close() waits at most this long for the serving loop to notice.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="pipemeter-metrics", daemon=True)
        self._thread.start()

    def close(self):
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()

