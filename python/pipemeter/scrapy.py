"""Scrapy: one setting instruments a spider.

    EXTENSIONS = {"pipemeter.scrapy.PipemeterExtension": 500}
    PIPEMETER_SIDECAR_URL = "http://127.0.0.1:9465"   # or PIPEMETER_PORT = 9464 for /metrics in this process

The scraper label is the spider's name. ``item_scraped`` counts an item (its type is the item's ``item_type``
field when it has one, else its class name, ``item`` for a plain dict; its source is the host of the response
URL); ``item_dropped``, ``item_error`` and ``spider_error`` count a schema error (the error type is the
exception's class name, e.g. ``DropItem``); ``spider_closed`` records one run, a success only when the close
reason is ``finished``, which also sets the last-success time.

Settings: ``PIPEMETER_SIDECAR_URL`` and ``PIPEMETER_TOKEN_FILE`` (send to a sidecar), or ``PIPEMETER_PORT`` and
``PIPEMETER_ADDR`` (serve /metrics in this process); ``PIPEMETER_ITEM_TYPES`` (a list: their series start at 0
in process); ``PIPEMETER_SERVICE`` (default ``scrapy``)."""
import time

from ._meter import create_meter
from ._sidecar import SidecarClient

__all__ = ["PipemeterExtension", "item_type_of"]

#: item_type of a schema error that happened outside any item (a spider callback that raised).
NO_ITEM = "unknown"


def item_type_of(item):
    """The item type label of a scraped item: its ``item_type`` field, else its class name (``item`` for a dict)."""
    v = None
    try:
        if isinstance(item, dict):
            v = item.get("item_type")
        else:
            from itemadapter import ItemAdapter

            adapter = ItemAdapter(item)
            v = adapter.get("item_type") if "item_type" in adapter.field_names() else getattr(item, "item_type", None)
    except Exception:
        v = None
    if isinstance(v, str) and v != "":
        return v
    return "item" if isinstance(item, dict) else type(item).__name__


class PipemeterExtension:
    """The Scrapy extension; its ``recorder`` is a pipemeter meter or a SidecarClient."""

    def __init__(self, recorder, meter=None, server=None, client=None, item_types=None):
        self.recorder = recorder
        self.meter = meter
        self.server = server
        self.client = client
        self.item_types = item_types
        self._scrapers = {}
        self._opened = {}

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        s = crawler.settings
        url = s.get("PIPEMETER_SIDECAR_URL")
        port = s.get("PIPEMETER_PORT")
        item_types = s.getlist("PIPEMETER_ITEM_TYPES") or None
        if url:
            client = SidecarClient(url, token_file=s.get("PIPEMETER_TOKEN_FILE"))
            ext = cls(client, client=client, item_types=item_types)
        elif port is not None and str(port) != "":
            meter = create_meter(service=s.get("PIPEMETER_SERVICE", "scrapy"))
            server = meter.start_http_server(int(port), addr=s.get("PIPEMETER_ADDR", "0.0.0.0"))
            ext = cls(meter, meter=meter, server=server, item_types=item_types)
        else:
            raise NotConfigured("pipemeter: set PIPEMETER_SIDECAR_URL (send to a sidecar) or PIPEMETER_PORT (serve /metrics in this process)")
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ext.item_error, signal=signals.item_error)
        crawler.signals.connect(ext.spider_error, signal=signals.spider_error)
        return ext

    def _scraper(self, spider):
        s = self._scrapers.get(spider.name)
        if s is None:
            s = self._scrapers[spider.name] = self.recorder.scraper(spider.name, item_types=self.item_types)
        return s

    def spider_opened(self, spider):
        self._opened[spider.name] = time.perf_counter()
        self._scraper(spider)

    def item_scraped(self, item, response, spider):
        self._scraper(spider).item_created(item_type_of(item), getattr(response, "url", None))

    def item_dropped(self, item, response, exception, spider):
        self._scraper(spider).schema_error(type(exception).__name__, item_type_of(item))

    def item_error(self, item, response, spider, failure):
        self._scraper(spider).schema_error(_failure_type(failure), item_type_of(item))

    def spider_error(self, failure, response, spider):
        self._scraper(spider).schema_error(_failure_type(failure), NO_ITEM)

    def spider_closed(self, spider, reason):
        t0 = self._opened.pop(spider.name, None)
        duration = None if t0 is None else time.perf_counter() - t0
        self._scraper(spider).record_run("success" if reason == "finished" else "failure", duration_seconds=duration)
        if self.client is not None:
            # The crawl process usually exits next: deliver now, bounded, rather than at interpreter exit.
            self.client.flush(timeout=5.0)


def _failure_type(failure):
    t = getattr(failure, "type", None)
    return t.__name__ if isinstance(t, type) else "Exception"
