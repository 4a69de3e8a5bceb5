"""Numbers and instants at the edge: which values a recording accepts, times as Unix seconds, and numbers written as JavaScript writes them."""
import datetime as _dt
import math
import numbers
from decimal import Decimal

INF = math.inf


def as_number(v):
    """Return v as a float when it is a real number (not a bool), else None. Never raises."""
    t = v.__class__
    if t is float:
        return v
    if t is int:
        try:
            return float(v)
        except OverflowError:
            return None
    if t is bool or not isinstance(v, numbers.Real):
        return None
    try:
        return float(v)
    except (OverflowError, ValueError, TypeError):
        return None


def to_seconds(t):
    """Unix seconds of a datetime (a naive one is local time, as datetime.timestamp() reads it) or of a
    number of epoch seconds; None when t is neither."""
    if isinstance(t, _dt.datetime):
        try:
            return t.timestamp()
        except (OverflowError, ValueError, OSError):
            return None
    n = as_number(t)
    return n if n is not None and -INF < n < INF else None


def js_number(x):
    """Write a finite float as JavaScript's Number#toString does: the bucket bounds of a histogram become
    the same ``le`` label values as the Node module writes (``1``, not ``1.0``), so a fleet that mixes
    both languages has one series per bucket, not two."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0")
    exponent += len(digits) - len(ds)
    k = len(ds)
    n = exponent + k
    if k <= n <= 21:
        return ds + "0" * (n - k)
    if 0 < n <= 21:
        return ds[:n] + "." + ds[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + ds
    e = n - 1
    es = ("+" if e >= 0 else "-") + str(abs(e))
    return (ds if k == 1 else ds[0] + "." + ds[1:]) + "e" + es
