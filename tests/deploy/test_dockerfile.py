"""The Dockerfile: hadolint accepts it, and its steps work without a container engine.

This machine has no container engine, so the image is not built here. Instead the test follows
the Dockerfile itself: it copies what the build stage COPYs, runs the build stage's RUN line
(with /opt/flextime moved to a temp dir) in a clean virtual environment, then starts the exporter
as the final stage would: its ENTRYPOINT and CMD, its ENV, as its USER (when the test runs as
root, as CI does), and runs its HEALTHCHECK."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, free_port, http_get, require_program, wait_http

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            out.append([])
        if out:
            out[-1].append((word, rest))
    return out


def test_hadolint_accepts_the_dockerfile():
    hadolint = require_program("hadolint")
    proc = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_conventions():
    build, final = stages()
    assert any(w == "RUN" and "pip install" in r for w, r in build)
    # the inject extra (the kubernetes package): the chart's webhook runs from this image
    assert any(w == "RUN" and "pip install" in r and "'.[inject]'" in r for w, r in build)
    words = dict((w, r) for w, r in final)
    assert words["USER"] == "65534:65534"  # not root
    assert json.loads(words["ENTRYPOINT"]) == ["flextime-exporter"]  # the one console script
    assert "org.opencontainers.image.source" in words["LABEL"] and "org.opencontainers.image.version" in words["LABEL"]
    assert "COPY" in words and "--from=build" in words["COPY"]  # only the venv reaches the final image
    assert words["HEALTHCHECK"].startswith("--interval")
    ignore = (ROOT / ".dockerignore").read_text().split()
    for copied in ("pyproject.toml", "README.md", "exporters/"):
        assert f"!{copied}" in ignore


def _final_env(final, venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEXTIME_", "VIRTUAL_ENV", "PYTHON"))}
    for word, rest in final:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value.replace("$PATH", os.environ["PATH"]).replace("/opt/flextime", str(venv))
    return env


def test_install_steps_and_entrypoint_in_a_clean_virtual_environment(tmp_path):
    if shutil.which("pip") is None and not IN_CI:
        pytest.skip("pip is missing")
    build, final = stages()
    src = tmp_path / "src"
    src.mkdir()
    for word, rest in build:  # COPY <sources...> <dest> (dest relative to WORKDIR /src)
        if word == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                target = src / dest / Path(source).name if dest.endswith("/") or len(sources) > 1 else src / dest
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / source, target)
    venv = tmp_path / "opt" / "flextime"
    run = [rest for word, rest in build if word == "RUN"]
    assert len(run) == 1
    # the image's python is /usr/local/bin/python, readable by every user; as root here, pyenv's
    # (under /root, mode 0700) would not be readable by the image's USER: use the system's then
    python = sys.executable
    if os.geteuid() == 0 and Path("/usr/bin/python3").exists():
        python = "/usr/bin/python3"
    script = run[0].replace("/opt/flextime", str(venv)).replace("python -m venv", f"{python} -m venv")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_NO_CACHE_DIR": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    words = dict((w, r) for w, r in final)
    port = free_port()
    command = json.loads(words["ENTRYPOINT"]) + json.loads(words["CMD"]) + [f"--web.listen-address=127.0.0.1:{port}"]
    env = _final_env(final, venv)
    env["FLEXTIME_HEALTHCHECK_URL"] = f"http://127.0.0.1:{port}/live"
    user = None
    if os.geteuid() == 0:  # as the image's USER; the venv must be readable by it, as in the image
        uid, gid = (int(x) for x in words["USER"].split(":"))
        for path in [tmp_path, *tmp_path.parents]:
            if path == Path("/"):
                break
            os.chmod(path, os.stat(path).st_mode | 0o005)
        subprocess.run(["chmod", "-R", "o+rX", str(tmp_path)], check=True)
        user = (uid, gid)

    def demote():
        if user is not None:
            os.setgid(user[1])
            os.setuid(user[0])

    exe = shutil.which(command[0], path=env["PATH"])
    assert exe == str(venv / "bin" / "flextime-exporter")  # the venv's console script, found by PATH
    proc = subprocess.Popen(
        [exe, *command[1:]], env=env, cwd="/", preexec_fn=demote, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/live", proc, timeout=30)
        assert "node_load1 " in http_get(f"http://127.0.0.1:{port}/metrics").text
        health = json.loads(words["HEALTHCHECK"].split(" CMD ", 1)[1])
        health_python = shutil.which(health[0], path=env["PATH"])
        assert health_python == str(venv / "bin" / "python")
        ok = subprocess.run([health_python, *health[1:]], env=env, preexec_fn=demote, timeout=30)
        assert ok.returncode == 0
        down = subprocess.run(
            [health_python, *health[1:]],
            preexec_fn=demote,
            timeout=30,
            env={**env, "FLEXTIME_HEALTHCHECK_URL": f"http://127.0.0.1:{free_port()}/live"},
            capture_output=True,
        )
        assert down.returncode != 0  # the HEALTHCHECK fails when nothing answers
    finally:
        proc.terminate()
        proc.wait(10)
