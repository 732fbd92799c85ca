"""Beyond one process (issue 19): three exporter replicas behind a real Prometheus whose ``hashmod``
relabelling on the target sends every target to one replica, always the same, so it keeps its
connections there (the plain-Prometheus configuration of docs/postgres.md, "Many databases")."""

from __future__ import annotations

import hashlib
import json

from conftest import Prometheus

from .test_multi_target import write_config

REPLICAS = 3
PER_REPLICA = 3


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' hashmod: the low 8 bytes of the value's MD5, as a big-endian integer, modulo."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def spread_databases(port: int) -> list[str]:
    """PER_REPLICA database names for each replica: the targets carry the server's random port, so a
    fixed list of names could leave a replica with no target at all (about 1 run in 13 for 9)."""
    shards: dict[int, list[str]] = {i: [] for i in range(REPLICAS)}
    for i in range(1, 1000):  # bounded: each name lands on a given replica with probability 1/3
        db = f"fleet_{i:03d}"
        shard = shards[hashmod(f"127.0.0.1:{port}/{db}", REPLICAS)]
        if len(shard) < PER_REPLICA:
            shard.append(db)
        if all(len(names) == PER_REPLICA for names in shards.values()):
            return sorted(db for names in shards.values() for db in names)
    raise AssertionError(f"no {PER_REPLICA} database names per replica among 999 for port {port}")


def test_hashmod_sends_each_target_to_one_replica_always_the_same(exporter_factory, pg_primary, tmp_path):
    existing = set(pg_primary.psql("SELECT datname FROM pg_database").split())
    databases = spread_databases(pg_primary.port)
    for db in databases:
        if db not in existing:
            pg_primary.psql(f"CREATE DATABASE {db}")
    config = write_config(tmp_path, pg_primary, [f"127.0.0.1:{pg_primary.port}"])
    replicas = [
        exporter_factory(
            f"--config.file={config}",
            "--log.level=debug",
            f"--postgres.application-name=flextime-shard-{i}",
            exporter="postgres",
            env={"DATA_SOURCE_NAME": ""},
        )
        for i in range(REPLICAS)
    ]
    targets = [f"127.0.0.1:{pg_primary.port}/{db}" for db in databases]
    shards = "".join(
        f"""      - source_labels: [__tmp_shard]
        regex: "{i}"
        target_label: __address__
        replacement: 127.0.0.1:{exp.port}
"""
        for i, exp in enumerate(replicas)
    )
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: postgres
    metrics_path: /probe
    params: {{auth_module: [monitoring]}}
    static_configs:
      - targets: {json.dumps(targets)}
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__address__], target_label: instance}}
      - {{source_labels: [__address__], action: hashmod, modulus: {REPLICAS}, target_label: __tmp_shard}}
{shards}""")
    prom = Prometheus.with_config(tmp_path / "prom", prom_config)
    try:
        # every target up, scraped several times
        prom.wait('count(up{job="postgres"} == 1)', lambda r: r and float(r[0]["value"][1]) == len(targets), 30)
        prom.wait('min(pg_exporter_scrapes_total{job="postgres"})', lambda r: r and float(r[0]["value"][1]) >= 4, 30)
        active = prom.api("targets?state=active")["activeTargets"]
        by_target = {t["labels"]["instance"]: t["scrapeUrl"] for t in active}
        assert sorted(by_target) == sorted(targets)
        ports = {exp.port: i for i, exp in enumerate(replicas)}
        for target, url in by_target.items():
            port = int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            assert ports[port] == hashmod(target, REPLICAS), (target, url)
        # each replica made exactly its own targets, once (never evicted and rebuilt), none of the others'
        for i, exp in enumerate(replicas):
            log = exp.log()
            for target in targets:
                made = log.count(f"probe target postgresql://exporter@{target} added")
                assert made == (1 if hashmod(target, REPLICAS) == i else 0), (i, target, made)
        # one session per target, never reset: its scrape counter only grew
        assert not prom.query('resets(pg_exporter_scrapes_total{job="postgres"}[1m]) > 0')
        assert {s["metric"]["instance"] for s in prom.query('up{job="postgres"} == 1')} == set(targets)
    finally:
        prom.stop()
