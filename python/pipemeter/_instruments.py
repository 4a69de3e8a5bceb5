"""Families as users see them: record by label values, or bind a label set once and record on the handle
(a port of src/meter/instruments.ts)."""
import time

from ._family import CounterSeries, GaugeSeries, HistogramSeries
from ._numbers import as_number

__all__ = ["Counter", "Gauge", "Histogram", "BoundCounter", "BoundGauge", "BoundHistogram"]


class BoundCounter:
    """A counter series held by its handle: inc() adds to it without a label lookup."""

    __slots__ = ("_family", "series")

    def __init__(self, family, series):
        self._family = family
        self.series = series

    def inc(self, n=1, exemplar=None):
        self._family.inc(self.series, n, exemplar)

    @property
    def value(self):
        return self.series.value


class BoundGauge:
    __slots__ = ("_family", "series")

    def __init__(self, family, series):
        self._family = family
        self.series = series

    def set(self, v):
        self._family.set(self.series, v)

    def inc(self, n=1):
        self._family.add(self.series, n)

    def dec(self, n=1):
        v = as_number(n)
        # A value that is not a number goes on as it is, to be counted as invalid.
        self._family.add(self.series, -v if v is not None else n)

    def set_to_current_time(self):
        self._family.set(self.series, time.time())

    @property
    def value(self):
        return self.series.value


class _Timer:
    __slots__ = ("_h", "_t0", "_exemplar", "seconds")

    def __init__(self, h, exemplar):
        self._h = h
        self._exemplar = exemplar
        self.seconds = None

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        self._h.observe(self.seconds, self._exemplar)
        return False


class BoundHistogram:
    __slots__ = ("_family", "series")

    def __init__(self, family, series):
        self._family = family
        self.series = series

    def observe(self, v, exemplar=None):
        self._family.observe(self.series, v, exemplar)

    def time(self, exemplar=None):
        """A context manager that observes the seconds its block took (whether or not it raised)."""
        return _Timer(self, exemplar)


class _Instrument:
    _bound_class = None
    _series_class = None

    def __init__(self, family):
        self.family = family
        self._bound = {}

    def labels(self, labels=None):
        """The bound handle of this label set (the same handle each time); its series never expires.
        Invalid labels give a detached handle whose writes go nowhere, counted once here."""
        s = self.family.series_of(labels)
        if s is None:
            return self._bound_class(self.family, self._detached())
        b = self._bound.get(id(s))
        if b is None or b.series is not s:
            s.pinned = True
            b = self._bound[id(s)] = self._bound_class(self.family, s)
        return b

    def _detached(self):
        f = self.family
        return self._series_class((), len(f.upper_bounds))


class Counter(_Instrument):
    _bound_class = BoundCounter
    _series_class = CounterSeries

    def inc(self, labels, n=1, exemplar=None):
        s = self.family.series_of(labels)
        if s is not None:
            self.family.inc(s, n, exemplar)


class Gauge(_Instrument):
    _bound_class = BoundGauge
    _series_class = GaugeSeries

    def set(self, labels, v):
        s = self.family.series_of(labels)
        if s is not None:
            self.family.set(s, v)

    def inc(self, labels, n=1):
        s = self.family.series_of(labels)
        if s is not None:
            self.family.add(s, n)

    def dec(self, labels, n=1):
        s = self.family.series_of(labels)
        if s is not None:
            BoundGauge(self.family, s).dec(n)

    def remove(self, labels):
        """Drop one series, e.g. a gauge for something that no longer exists."""
        try:
            key = tuple(labels[n] for n in self.family.label_names)
        except Exception:
            return False
        return self.family.remove(key)


class Histogram(_Instrument):
    _bound_class = BoundHistogram
    _series_class = HistogramSeries

    def observe(self, labels, v, exemplar=None):
        s = self.family.series_of(labels)
        if s is not None:
            self.family.observe(s, v, exemplar)
