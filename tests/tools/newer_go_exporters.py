"""Today's upstream Go exporters as reference binaries, without installing them.

Debian 12 (what ``apt-get install`` gives here) ships node_exporter 1.5, postgres_exporter 0.11.1 and
redis_exporter 1.45. The compatibility target is today's releases, which Debian 13 ("trixie") ships:
node_exporter 1.9, postgres_exporter 0.17.1 and redis_exporter 1.69. This module downloads those
three .deb files with apt, using a private sources list and private state directories (so the
system's apt configuration is left alone), unpacks them with ``dpkg-deb -x`` into a cache directory
and returns the binaries' paths. It is idempotent: a second call finds the unpacked binaries.

``python3 tests/tools/newer_go_exporters.py`` fetches them (``.ci/run`` calls it before the tests);
the test fixtures call :func:`binary`, which fetches on first use when the cache is empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGES = ("prometheus-node-exporter", "prometheus-postgres-exporter", "prometheus-redis-exporter")
SUITE = "trixie"
CACHE = Path(
    os.environ.get("FLEXTIME_GO_REFERENCE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flextime-go-reference"
)


def _apt_options(cache: Path) -> list[str]:
    return [
        "-o",
        f"Dir::Etc::SourceList={cache / 'apt' / 'sources.list'}",
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        f"Dir::State::Lists={cache / 'apt' / 'lists'}",
        "-o",
        f"Dir::Cache={cache / 'apt' / 'cache'}",
        "-o",
        "Debug::NoLocking=1",
        "-o",
        "APT::Sandbox::User=root",
    ]


def fetch(cache: Path = CACHE) -> dict[str, Path]:
    """Download and unpack the packages when missing; {package name: binary path}."""
    paths = {pkg: cache / "root" / "usr" / "bin" / pkg for pkg in PACKAGES}
    if all(p.exists() for p in paths.values()):
        return paths
    for sub in ("apt/lists/partial", "apt/cache/archives/partial", "debs", "root"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    (cache / "apt" / "sources.list").write_text(f"deb http://deb.debian.org/debian {SUITE} main\n")
    options = _apt_options(cache)
    subprocess.run(["apt-get", *options, "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", *options, "download", *PACKAGES], check=True, cwd=cache / "debs", stdout=subprocess.DEVNULL
    )
    for deb in sorted((cache / "debs").glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(cache / "root")], check=True)
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise RuntimeError(f"unpacked the {SUITE} packages but found no {', '.join(missing)}")
    return paths


def binary(package: str) -> Path:
    """The path of one newer reference binary (``prometheus-node-exporter`` etc.), fetched on first use."""
    return fetch()[package]


if __name__ == "__main__":
    for pkg, path in fetch().items():
        version = subprocess.run([str(path), "--version"], capture_output=True, text=True)
        print(f"{pkg}: {path} ({(version.stdout or version.stderr).splitlines()[0]})")
    sys.exit(0)
