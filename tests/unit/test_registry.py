"""How --collector.NAME, --no-collector.NAME and --collector.disable-defaults choose collectors."""

from exporters.node import SPEC


def test_defaults_and_explicit_switches():
    cs = SPEC.collectors
    defaults = cs.enabled_names({}, disable_defaults=False)
    assert "cpu" in defaults and "textfile" in defaults
    assert "cpu" not in cs.enabled_names({"cpu": False}, disable_defaults=False)
    assert cs.enabled_names({"loadavg": True}, disable_defaults=True) == ["loadavg"]
    assert cs.enabled_names({}, disable_defaults=True) == []


# node_exporter's own exceptions to "a counter ends in _total and only a counter does", kept for compatibility
GAUGES_NAMED_TOTAL = {"node_systemd_socket_refused_connections_total"}
COUNTERS_WITHOUT_TOTAL = {"node_supervisord_start_time_seconds"}


def test_every_collector_declares_its_metrics_with_the_namespace():
    for cls in SPEC.collectors:
        assert cls.metrics, cls.name
        for d in cls.metrics:
            assert d.name.startswith("node_"), d.name
            if d.name in GAUGES_NAMED_TOTAL | COUNTERS_WITHOUT_TOTAL:
                assert d.type == ("gauge" if d.name in GAUGES_NAMED_TOTAL else "counter"), d.name
                continue
            assert (d.type == "counter") == d.name.endswith("_total"), d.name
