"""pipemeter for Python: the pipemeter metric catalog on prometheus_client, and a client for the sidecar.

    from pipemeter import create_meter
    meter = create_meter(service="crawler")
    beatport = meter.scraper("beatport", item_types=["track", "artist"])
    beatport.item_created("track", "https://www.beatport.com/track/x/1")   # source = www.beatport.com

Scrapy and Celery integrations are in ``pipemeter.scrapy`` and ``pipemeter.celery``; see docs/python.md.
"""
from ._catalog import VERSION
from ._family import OVERFLOW
from ._handles import JobHandle, ScraperHandle
from ._instruments import BoundCounter, BoundGauge, BoundHistogram, Counter, Gauge, Histogram
from ._meter import DEFAULT_MAX_SERIES, Meter, MetricsServer, PipemeterError, create_meter
from ._sidecar import SidecarClient
from ._source import source_label

__version__ = VERSION

__all__ = [
    "VERSION",
    "OVERFLOW",
    "DEFAULT_MAX_SERIES",
    "BoundCounter",
    "BoundGauge",
    "BoundHistogram",
    "Counter",
    "Gauge",
    "Histogram",
    "JobHandle",
    "Meter",
    "MetricsServer",
    "PipemeterError",
    "ScraperHandle",
    "SidecarClient",
    "create_meter",
    "source_label",
]
