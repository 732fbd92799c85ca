"""docs/postgres.md's first step, run as written: its SQL makes the monitoring role, its pg_hba.conf
line lets it in, and the exporter then scrapes with every default collector succeeding.

The placeholders are replaced, nothing else: the role name (``exporter`` is the fixtures' own
role), the password ``change-me`` and the address 10.0.4.17 (the test connects from 127.0.0.1).
A ``reject`` line after the documented one makes sure that line, not a broader one of the test
server, is what admits the role."""

from __future__ import annotations

import re
import secrets

from conftest import ROOT, samples, value

DOC = ROOT / "docs" / "postgres.md"


def first_step() -> tuple[str, str]:
    section = DOC.read_text().split("## The monitoring role", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", section, re.M | re.S)
    (sql,) = [body for lang, body in blocks if lang == "sql"]
    (hba,) = [body for lang, body in blocks if lang == ""]
    return sql, hba


def test_monitoring_role_and_pg_hba_line_as_documented(pg_primary, exporter_factory):
    sql, hba = first_step()
    assert "CREATE ROLE exporter LOGIN" in sql and "GRANT pg_monitor TO exporter" in sql
    role, password = "docs_exporter_" + secrets.token_hex(4), "canary-docs-" + secrets.token_hex(8)
    sql = re.sub(r"\bexporter\b", role, sql).replace("change-me", password)
    lines = [line for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1 and "10.0.4.17/32" in lines[0], hba
    line = re.sub(r"\bexporter\b", role, lines[0]).replace("10.0.4.17/32", "127.0.0.1/32")
    hba_path = pg_primary.data_dir / "pg_hba.conf"
    original = hba_path.read_text()
    pg_primary.run_as.write(hba_path, f"{line}\nhost all {role} all reject\n{original}")
    try:
        pg_primary.psql("SELECT pg_reload_conf()")
        errors = pg_primary.psql("SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL")
        assert errors == "", errors
        pg_primary.psql(sql)
        exp = exporter_factory(
            exporter="postgres",
            env={
                "DATA_SOURCE_NAME": f"postgresql://{role}:{password}@{pg_primary.host}:{pg_primary.port}/postgres"
                "?sslmode=disable"
            },
        )
        text = exp.get().text
        assert value(text, "pg_up") == 1, exp.log()
        success = {
            dict(labels)["collector"]: v
            for (name, labels), v in samples(text).items()
            if name == "pg_scrape_collector_success"
        }
        assert success and all(v == 1 for v in success.values()), success
        assert password not in exp.log()
        exp.stop()
    finally:
        pg_primary.run_as.write(hba_path, original)
        pg_primary.psql("SELECT pg_reload_conf()")
        pg_primary.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        pg_primary.psql(f"DROP ROLE IF EXISTS {role}")
