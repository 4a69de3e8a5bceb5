"""Source labels: a URL is reduced to its host so that ``source`` stays bounded (a port of src/meter/source.ts)."""
import re

__all__ = ["source_label"]

_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_AUTHORITY_END = re.compile(r"[/?#]")
# What JavaScript's String.prototype.trim() removes (WhiteSpace and LineTerminator); str.strip() differs.
_JS_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

# Hosts repeat (one per source site) while URLs do not: the label of an authority is kept, up to a bound.
_cache = {}
_CACHE_MAX = 4096


def source_label(value):
    """Return the lower-cased host of a URL (``https://www.beatport.com/x`` -> ``www.beatport.com``),
    a bare host name as is, and ``invalid`` for anything else, never raising. Ports, user info,
    paths and queries are dropped."""
    if not isinstance(value, str):
        return "invalid"
    s = value.strip(_JS_SPACE)
    scheme = s.find("://")
    if scheme >= 0:
        s = s[scheme + 3:]
    elif s.startswith("//"):
        s = s[2:]
    m = _AUTHORITY_END.search(s)
    authority = s[: m.start()] if m is not None else s
    label = _cache.get(authority)
    if label is None:
        label = _host_of(authority)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[authority] = label
    return label


def _host_of(host):
    at = host.rfind("@")
    if at >= 0:
        host = host[at + 1:]
    if host.startswith("["):
        close = host.find("]")
        return host[: close + 1].lower() if close > 1 else "invalid"
    colon = host.find(":")
    if colon >= 0:
        host = host[:colon]
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    return host if 0 < len(host) <= 253 and _HOST.fullmatch(host) is not None else "invalid"

