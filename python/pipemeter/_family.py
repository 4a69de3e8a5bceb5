"""A family at run time: its series table, the series cap with its overflow series, expiry, and its
exposition as a prometheus_client Collector (a port of src/meter/family.ts and series.ts)."""
import threading
import time
from bisect import bisect_left

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar

from ._numbers import INF, as_number, js_number

__all__ = ["OVERFLOW", "Family"]

#: The label value every label of an overflow series carries.
OVERFLOW = "__overflow__"

#: OpenMetrics caps an exemplar's label set at 128 UTF-8 characters (names and values).
EXEMPLAR_MAX_CHARS = 128


class _Series:
    __slots__ = ("label_values", "dirty", "last_seen", "pinned")

    def __init__(self, label_values):
        self.label_values = label_values
        # Set on every write, cleared by an expiry sweep: cheaper on the hot path than reading a clock.
        self.dirty = True
        self.last_seen = 0.0
        self.pinned = False


class CounterSeries(_Series):
    __slots__ = ("value", "exemplar")

    def __init__(self, label_values, _buckets=0):
        _Series.__init__(self, label_values)
        self.value = 0.0
        self.exemplar = None


class GaugeSeries(_Series):
    __slots__ = ("value",)

    def __init__(self, label_values, _buckets=0):
        _Series.__init__(self, label_values)
        self.value = 0.0


class HistogramSeries(_Series):
    __slots__ = ("counts", "sum", "count", "exemplars")

    def __init__(self, label_values, buckets):
        _Series.__init__(self, label_values)
        # Observations per bucket, not cumulative; the last slot is +Inf.
        self.counts = [0] * (buckets + 1)
        self.sum = 0.0
        self.count = 0
        self.exemplars = [None] * (buckets + 1)


_SERIES = {"counter": CounterSeries, "gauge": GaugeSeries, "histogram": HistogramSeries}


def _is_text(v):
    """A label value must be a str that has a UTF-8 form (no lone surrogate such as "\\ud800")."""
    if v.__class__ is not str and not isinstance(v, str):
        return False
    if v.isascii():
        return True
    try:
        v.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def exemplar_of(labels, value):
    """An Exemplar, or None when the labels are not str to str or exceed the OpenMetrics limit."""
    chars = 0
    try:
        for k, v in labels.items():
            if not (_is_text(k) and _is_text(v)):
                return None
            chars += len(k) + len(v)
    except AttributeError:
        return None
    if chars > EXEMPLAR_MAX_CHARS:
        return None
    return Exemplar(dict(labels), value, time.time())


class Family:
    """One metric family: series by label values (a dict keyed by the tuple of values, in creation order),
    capped at max_series, past which new label sets fold into one overflow series."""

    def __init__(self, definition, max_series, ctx, buckets=None):
        self.definition = definition
        self.name = definition["name"]
        self.type = definition["type"]
        self.help = definition["help"]
        self.domain = definition["domain"]
        self.label_names = tuple(definition.get("labels", ()))
        self.max_series = max_series
        self.upper_bounds = tuple(float(b) for b in (buckets if buckets is not None else definition.get("buckets", ())))
        self.les = tuple(js_number(b) for b in self.upper_bounds) + ("+Inf",)
        self.series = {}
        self.overflow_series = None
        self.ctx = ctx
        self.lock = threading.Lock()
        self._make = _SERIES[self.type]
        # OpenMetrics names a counter family without its `_total`; prometheus_client writes it back in text 0.0.4.
        self.metric_name = self.name[:-6] if self.type == "counter" and self.name.endswith("_total") else self.name
        unit = definition.get("unit") or ""
        self.unit = unit if unit and self.metric_name.endswith("_" + unit) else ""

    # --- series -----------------------------------------------------------------------------------------

    def series_for(self, values, pin=False):
        """The series of these label values (a tuple in label order), creating it, or the overflow series
        past the cap. `pin` keeps it from expiry: zero-initialised series and bound handles must stay."""
        s = self.series.get(values)
        if s is not None:
            if pin:
                s.pinned = True
            return s
        overflowed = False
        with self.lock:
            s = self.series.get(values)
            if s is None:
                if len(self.series) >= self.max_series:
                    overflowed = True
                    s = self.overflow_series
                    if s is None:
                        s = self.overflow_series = self._make((OVERFLOW,) * len(self.label_names), len(self.upper_bounds))
                else:
                    s = self._make(values, len(self.upper_bounds))
                    s.pinned = pin
                    self.series[values] = s
            elif pin:
                s.pinned = True
        if overflowed:
            self.ctx.overflow(self.name)
        return s

    def create(self, values):
        """series_for after checking every value is text; None (and counted) when one is not."""
        for v in values:
            if not _is_text(v):
                self.ctx.error("invalid_labels")
                return None
        return self.series_for(values)

    def series_of(self, labels):
        """Resolve a label mapping: the hot path is one tuple and one dict lookup. None (and counted) when a
        label is missing or its value is not text; labels other than the family's are ignored."""
        names = self.label_names
        if not names:
            return self.series_for(())
        try:
            key = tuple(map(labels.__getitem__, names))
        except Exception:
            self.ctx.error("invalid_labels")
            return None
        try:
            return self.series[key]
        except (KeyError, TypeError):  # a new label set, or a value that is not even hashable
            return self.create(key)

    def remove(self, values):
        with self.lock:
            return self.series.pop(values, None) is not None

    def expire_idle(self, now, ttl):
        """Drop series not written for ttl seconds, checked at each call; pinned series stay."""
        # pipemeter's own families count what was dropped; expiring them would hide exactly that.
        if self.domain == "self":
            return 0
        dropped = 0
        with self.lock:
            for key, s in list(self.series.items()):
                if s.dirty:
                    s.dirty = False
                    s.last_seen = now
                elif not s.pinned and now - s.last_seen >= ttl:
                    del self.series[key]
                    dropped += 1
        return dropped

    # --- recording --------------------------------------------------------------------------------------

    def inc(self, s, n, exemplar=None):
        """Add n to a counter series; a negative, non-finite or non-number n is ignored and counted."""
        if n.__class__ is not float:
            n = as_number(n)
            if n is None:
                self.ctx.error("invalid_value")
                return
        if not 0.0 <= n < INF:
            self.ctx.error("negative_increment" if n < 0 else "invalid_value")
            return
        ex = exemplar_of(exemplar, n) if exemplar is not None else None
        with self.lock:
            s.value += n
            s.dirty = True
            if ex is not None:
                s.exemplar = ex

    def set(self, s, v):
        if v.__class__ is not float:
            v = as_number(v)
            if v is None:
                self.ctx.error("invalid_value")
                return
        if v != v:
            self.ctx.error("invalid_value")
            return
        with self.lock:
            s.value = v
            s.dirty = True

    def add(self, s, n):
        if n.__class__ is not float:
            n = as_number(n)
            if n is None:
                self.ctx.error("invalid_value")
                return
        if not -INF < n < INF:
            self.ctx.error("invalid_value")
            return
        with self.lock:
            s.value += n
            s.dirty = True

    def observe(self, s, v, exemplar=None):
        """Record v in a histogram series; NaN, +-Infinity and non-numbers are ignored and counted."""
        if v.__class__ is not float:
            v = as_number(v)
            if v is None:
                self.ctx.error("invalid_value")
                return
        if not -INF < v < INF:
            self.ctx.error("invalid_value")
            return
        i = bisect_left(self.upper_bounds, v)
        ex = exemplar_of(exemplar, v) if exemplar is not None else None
        with self.lock:
            s.counts[i] += 1
            s.sum += v
            s.count += 1
            s.dirty = True
            if ex is not None:
                s.exemplars[i] = ex

    # --- exposition (prometheus_client's Collector protocol) ----------------------------------------------

    def describe(self):
        """The family's names, so the registry refuses a prometheus_client metric of the same name."""
        return [Metric(self.metric_name, self.help, self.type, self.unit)]

    def collect(self):
        """The family with every series, or nothing while it has none (as the Node module renders)."""
        with self.lock:
            rows = list(self.series.values())
            if self.overflow_series is not None:
                rows.append(self.overflow_series)
            if not rows:
                return []
            if self.type == "histogram":
                snap = [(s.label_values, list(s.counts), s.sum, s.count, list(s.exemplars)) for s in rows]
            elif self.type == "counter":
                snap = [(s.label_values, s.value, s.exemplar) for s in rows]
            else:
                snap = [(s.label_values, s.value) for s in rows]
        m = Metric(self.metric_name, self.help, self.type, self.unit)
        names = self.label_names
        if self.type == "counter":
            sample = self.metric_name + "_total"
            for values, value, ex in snap:
                m.add_sample(sample, dict(zip(names, values)), value, None, ex)
        elif self.type == "gauge":
            for values, value in snap:
                m.add_sample(self.name, dict(zip(names, values)), value)
        else:
            bucket, total, count_name, les = self.name + "_bucket", self.name + "_sum", self.name + "_count", self.les
            for values, counts, sum_, count, exemplars in snap:
                labels = dict(zip(names, values))
                cum = 0
                for i, le in enumerate(les):
                    cum += counts[i]
                    bl = dict(labels)
                    bl["le"] = le
                    m.add_sample(bucket, bl, float(cum), None, exemplars[i])
                m.add_sample(total, labels, sum_)
                m.add_sample(count_name, labels, float(count))
        return [m]
