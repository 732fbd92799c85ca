"""The README as a newcomer uses it: short, its commands run as written on a fresh clone with the
system Python, its test command is what CI runs, and the generated references are current.

Shell blocks: every ```sh block of README.md runs as written, unless its first line is a comment
starting with ``# example`` (the rest of that line says what it needs: a server, a cluster, root).
The runnable ones run here, in order, with bash in a copy of the clone (its git-tracked files),
with that copy's ``.venv/bin`` first on PATH: the first one makes the fresh virtual environment
with the system ``python3 -m venv`` and ``pip install .``, as a newcomer on Debian 12 would.

The copy's environment also shows that the Kubernetes client is an extra: ``pip install .`` leaves
it out, ``inject`` then says so in one line and exits 2, and ``pip install '.[inject]'`` adds it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_program

README = ROOT / "README.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
SYSTEM_PYTHON = "/usr/bin/python3"  # the system's, as on a fresh Debian machine (no pyenv)


def sh_blocks() -> list[str]:
    return SH_BLOCK.findall(README.read_text())


def runnable_blocks() -> list[str]:
    return [b for b in sh_blocks() if not b.lstrip().startswith("# example")]


def test_generated_sections_are_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "exporters.docs", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_reference_pages_are_marked_generated():
    pages = sorted((ROOT / "docs" / "reference").glob("*.md"))
    assert {p.stem for p in pages} == {"node", "postgres", "redis", "scheduler"}
    for page in pages:
        first = page.read_text().splitlines()[0]
        assert "generated" in first and "do not edit" in first, page


def test_readme_is_short_and_names_every_subcommand():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    for sub in ("node", "postgres", "redis", "scheduler", "fleet", "rules", "inject"):
        assert re.search(rf"^\| `{sub}` \|", text, re.M), sub
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):  # relative links point at files that exist
        if "://" not in link:
            assert (ROOT / link).exists(), link


def test_every_shell_block_is_runnable_or_marked_as_an_example():
    blocks = sh_blocks()
    assert blocks and runnable_blocks(), "README.md has no runnable ```sh block"
    for block in runnable_blocks():  # runnable ones use only what the install block makes
        for line in block.splitlines():
            assert not re.search(r"\b(sudo|apt-get|curl|docker|helm)\b", line), f"runs as written? {line}"


def test_readme_test_command_is_what_ci_runs():
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/run" in readme and "ALLOW_SKIPS=1" in readme and "`.venv/`" in readme
    assert "-m venv" in ci and "pip install" in ci and "-e '.[test]'" in ci
    assert 'exec "$PY" -m pytest' in ci and "export CI=true" in ci and "ALLOW_SKIPS" in ci


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """A copy of the clone's tracked files (and the working tree's changes to them)."""
    if not Path(SYSTEM_PYTHON).exists():
        require_program("no-system-python3")  # skip on a laptop, fail under CI
    git = require_program("git")
    files = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    dest = tmp_path_factory.mktemp("clone")
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _bash(clone: Path, script: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "PYENV"))}
    # the system's python3 first (no pyenv shims), and the copy's virtual environment before it
    path = [p for p in env.get("PATH", "").split(os.pathsep) if ".pyenv" not in p and "/.venv" not in p]
    env["PATH"] = os.pathsep.join([str(clone / ".venv" / "bin"), "/usr/bin", *path])
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def readme_run(fresh_clone):
    """Every runnable block of the README, in order, in the fresh copy: (block, result) pairs."""
    results = []
    for block in runnable_blocks():
        results.append((block, _bash(fresh_clone, block)))
        if results[-1][1].returncode:
            break
    return results


def test_readme_commands_run_as_written_in_a_fresh_clone(readme_run, fresh_clone):
    assert len(readme_run) == len(runnable_blocks())
    for block, proc in readme_run:
        assert proc.returncode == 0, f"{block}\n---\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    python = fresh_clone / ".venv" / "bin" / "python"
    assert python.exists() and (fresh_clone / ".venv" / "bin" / "flextime-exporter").exists()
    # made by the system's python3 -m venv, not a pyenv interpreter
    home = (fresh_clone / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(r"^home = /usr/bin$", home, re.M), home
    helps = [proc.stdout for block, proc in readme_run if "node --help" in block]
    assert helps and "--collector.cpu" in helps[0]


def _has_kubernetes(clone: Path) -> bool:
    proc = _bash(
        clone, ".venv/bin/python -c 'import importlib.util as u; print(u.find_spec(\"kubernetes\") is not None)'"
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "True"


def test_kubernetes_is_an_extra_and_inject_says_so_without_it(readme_run, fresh_clone):
    assert all(proc.returncode == 0 for _, proc in readme_run)
    assert not _has_kubernetes(fresh_clone), "pip install . installed kubernetes"
    for args in ("", " --tls.cert-file=tls.crt --tls.key-file=tls.key"):
        proc = _bash(fresh_clone, f"set +e; .venv/bin/flextime-exporter inject{args}; echo rc=$?")
        err = proc.stderr.strip().splitlines()
        assert proc.stdout.strip() == "rc=2" and len(err) == 1, proc.stdout + proc.stderr
        assert err[0].startswith("flextime-exporter inject: error:") and "flextime-exporters[inject]" in err[0], err
    # --help works without it
    proc = _bash(fresh_clone, ".venv/bin/flextime-exporter inject --help")
    assert proc.returncode == 0 and "--tls.cert-file" in proc.stdout, proc.stderr
    proc = _bash(fresh_clone, ".venv/bin/pip install --quiet '.[inject]'")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _has_kubernetes(fresh_clone)
