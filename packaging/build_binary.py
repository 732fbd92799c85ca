"""Build the single-file executable ``dist/flextime-exporter`` with PyInstaller.

    pip install '.[test]'            # or: pip install . 'pyinstaller>=6'
    python packaging/build_binary.py  # -> dist/flextime-exporter (about a minute)

``--dist DIR`` and ``--work DIR`` put the executable and PyInstaller's build files elsewhere.
The exporters import their backends by name when their subcommand runs (exporters/cli.py
EXPORTERS), which PyInstaller's import analysis cannot see: every module of ``exporters`` and the
drivers they load are declared here. The executable runs on Linux hosts with the same or a newer
glibc than the build machine's (build on the oldest distribution you deploy to)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "flextime-exporter"

# modules loaded by name at run time (importlib), or by a driver's own lazy imports
HIDDEN = ("exporters.fleet", "exporters.rules.command", "psycopg", "psycopg_binary", "psycopg.pq", "redis.asyncio",
          "hiredis", "yaml", "bcrypt", "aiohttp", "dbus_fast", "dbus_fast.aio")
SUBMODULES = ("exporters", "psycopg", "redis", "aiohttp", "dbus_fast")
# psycopg's C implementation and the libpq it ships (psycopg_binary.libs); its submodules cannot be
# listed (it refuses to be imported before psycopg), the hooks find them from the hidden import
COLLECT_ALL = ("psycopg_binary",)
# installed beside the exporters (tests, tools, optional adapters) but never used by them
EXCLUDE = ("pytest", "hypothesis", "tkinter", "prometheus_client", "cryptography", "fuse", "IPython", "jedi",
           "parso", "prompt_toolkit", "traitlets", "numpy", "pandas", "matplotlib", "pydantic", "setuptools",
           "pkg_resources", "shapely")


def pyinstaller_args(dist: Path, work: Path) -> list[str]:
    args = [str(ROOT / "packaging" / "entry.py"), "--onefile", "--name", NAME, "--noconfirm", "--clean",
            "--log-level", "WARN", "--distpath", str(dist), "--workpath", str(work), "--specpath", str(work),
            "--paths", str(ROOT)]
    for module in HIDDEN:
        args += ["--hidden-import", module]
    for package in SUBMODULES:
        args += ["--collect-submodules", package]
    for package in COLLECT_ALL:
        args += ["--collect-all", package]
    for unused in EXCLUDE:
        args += ["--exclude-module", unused]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the executable goes (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's build files (default: build/pyinstaller/)")
    opts = parser.parse_args(argv)
    try:
        import PyInstaller.__main__
    except ImportError:
        print("build_binary: PyInstaller is not installed: pip install 'pyinstaller>=6'", file=sys.stderr)
        return 2
    PyInstaller.__main__.run(pyinstaller_args(opts.dist.resolve(), opts.work.resolve()))
    print(opts.dist.resolve() / NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
