"""Shared helpers: a quiet meter, the sample lines of one family, the samples of an exposition parsed by prometheus_client."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipemeter import create_meter


@pytest.fixture
def logs():
    return []


@pytest.fixture
def meter(logs):
    return create_meter(service="test", default_metrics=False, logger=logs.append)


def lines(meter, family):
    """The sample lines of one family in text 0.0.4, in order."""
    text = meter.metrics().decode()
    return [l for l in text.split("\n") if l.startswith(family + "{") or l.startswith(family + " ") or l.startswith(family + "_")]


def value(meter, name, **labels):
    """The value of one sample (by sample name and exact label set), or None."""
    for fam in text_string_to_metric_families(meter.metrics().decode()):
        for s in fam.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None
