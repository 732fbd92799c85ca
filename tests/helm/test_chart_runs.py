"""The chart's value sets, run: every container of ours that the chart renders for the default values,
each ci/*-values.yaml and each values example of the chart's README is started as `python -m
exporters <args>` with the args and environment Kubernetes would give it (ConfigMaps the chart renders
written out, Secrets and host paths stood in for, mount paths under a temporary root, the listen
address on loopback), and must serve /live: a flag an exporter does not know (exit 2), or a config it
refuses, fails here instead of crash-looping in a cluster."""

from __future__ import annotations

import datetime
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, free_port, stop_process, wait_http

from .test_chart import CHART, NAMESPACE, RELEASE, VALUE_SETS, _need, objects, values_of

helm = _need("helm_python", "helm-python-sdk")

OUR_IMAGE = re.compile(r"/flextime/flextime-exporters[:@]")
README = CHART / "README.md"


def readme_examples() -> dict[str, dict]:
    """The README's values examples: its ```yaml blocks whose first line is a `# values: <name>` comment."""
    found = {}
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S):
        first = block.splitlines()[0]
        if first.startswith("# values:"):
            found[f"README:{first.split(':', 1)[1].strip()}"] = yaml.safe_load(block)
    return found


EXAMPLES = readme_examples()


def values_named(name: str) -> dict:
    return EXAMPLES[name] if name.startswith("README:") else values_of(name)


def test_the_readme_has_values_examples():
    assert len(EXAMPLES) >= 4, sorted(EXAMPLES)


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[bytes, bytes]:
    """A throwaway self-signed certificate and key (PEM) standing in for the TLS Secrets."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def stand_in(path: Path, certificate: tuple[bytes, bytes]) -> None:
    """A file the user's Secret or ConfigMap would hold, by the kind its name says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".crt", ".pem") or path.name == "ca.crt":
        path.write_bytes(certificate[0])
    elif path.suffix == ".key":
        path.write_bytes(certificate[1])
    elif path.suffix == ".json":
        path.write_text("{}")
    else:
        path.write_text("placeholder-secret\n")


def containers_of_ours(docs: list[dict]):
    for d in docs:
        if d["kind"] in ("DaemonSet", "Deployment", "StatefulSet"):
            spec = d["spec"]["template"]["spec"]
            for c in spec.get("initContainers", []) + spec["containers"]:
                if OUR_IMAGE.search(c["image"]):
                    yield f"{d['kind']}/{d['metadata']['name']}/{c['name']}", spec, c


def prepare(docs: list[dict], spec: dict, c: dict, root: Path, certificate) -> tuple[list[str], dict[str, str]]:
    """The container's args and environment, its mounts laid out under ``root``."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    mounts: list[tuple[str, Path]] = []
    written: list[Path] = []
    for m in c.get("volumeMounts", []):
        volume, local = volumes[m["name"]], root / m["mountPath"].lstrip("/")
        mounts.append((m["mountPath"], local))
        if "hostPath" in volume:
            local.parent.mkdir(parents=True, exist_ok=True)
            host = Path(volume["hostPath"]["path"])
            if host.exists():
                local.symlink_to(host)
            else:
                local.mkdir()  # DirectoryOrCreate
        elif "configMap" in volume and volume["configMap"]["name"] in configmaps:
            data = configmaps[volume["configMap"]["name"]]
            files = {m["subPath"]: local} if "subPath" in m else {k: local / k for k in data}
            for key, path in files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[key])
                written.append(path)
        elif "secret" in volume or "projected" in volume or "configMap" in volume:
            # the user's Secrets and ConfigMaps: each listed item stood in for
            local.mkdir(parents=True, exist_ok=True)
            sources = volume["projected"]["sources"] if "projected" in volume else [volume]
            for source in sources:
                ref = source.get("secret") or source.get("configMap") or {}
                for item in ref.get("items", []):
                    stand_in(local / item["path"], certificate)
                if ref.get("secretName", "").endswith("-tls") or "tls" in m["name"]:
                    (local / "tls.crt").write_bytes(certificate[0])
                    (local / "tls.key").write_bytes(certificate[1])
        else:
            local.mkdir(parents=True, exist_ok=True)  # emptyDir
    mounts.sort(key=lambda pair: -len(pair[0]))

    where = dict(mounts)
    pattern = re.compile(r"(?<![\w/])(" + "|".join(re.escape(m) for m, _ in mounts) + r")(?=/|$|[\s,\"'])")

    def relocate(text: str) -> str:  # one pass: a relocated path is not relocated again
        return pattern.sub(lambda match: str(where[match[1]]), text) if mounts else text

    for path in written:  # e.g. postgres.yml's password_file paths
        path.write_text(relocate(path.read_text()))
    env = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "fieldRef" in e.get("valueFrom", {}):
            env[e["name"]] = "127.0.0.1"
        else:
            env[e["name"]] = "placeholder-secret"
    args = []
    for arg in c["args"]:
        arg = re.sub(r"\$\((\w+)\)", lambda match: env.get(match[1], match[0]), arg)
        arg = relocate(arg)
        if arg.startswith("--") and "=" in arg:
            value = arg.split("=", 1)[1]
            if value.startswith(str(root)) and not Path(value).exists():
                stand_in(Path(value), certificate)  # a file of the user's Secret, named by a flag
        args.append(arg)
    return args, env


RUNS = [name for name in VALUE_SETS if name != "default"] + sorted(EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_every_container_starts(chart, name, tmp_path, certificate):
    docs = objects(chart.render(values_named(name), name=RELEASE, namespace=NAMESPACE, is_install=True))
    started = []
    for where, spec, c in containers_of_ours(docs):
        root = tmp_path / where.replace("/", "_")
        args, env = prepare(docs, spec, c, root, certificate)
        port = free_port()
        args = [f"--web.listen-address=127.0.0.1:{port}" if a.startswith("--web.listen-address=") else a for a in args]
        assert args[0] in ("node", "postgres", "redis", "scheduler", "inject"), (where, args)
        log = root / "exporter.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "exporters", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
        scheme = "https" if args[0] == "inject" else "http"
        context = ssl._create_unverified_context() if scheme == "https" else None
        try:
            wait_http(f"{scheme}://127.0.0.1:{port}/live", proc, timeout=60, context=context)
        except RuntimeError as exc:
            pytest.fail(f"{name}: {where} did not start with {args}: {exc}\n{log.read_text()[-2000:]}")
        finally:
            stop_process(proc)
        started.append(where)
    assert started, f"{name}: no container of ours"


def exporter_flags(subcommand: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "exporters", subcommand, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    return set(re.findall(r"--(?:no-)?([a-z][\w.-]*[\w])", out.stdout))


def test_collectors_the_chart_names_exist():
    """Every --collector.<name> flag the chart's README, values.yaml and ci files name is a flag of one
    of the exporters (the README once named collectors that did not exist)."""
    flags = set().union(*(exporter_flags(s) for s in ("node", "postgres", "redis", "scheduler")))
    texts = [CHART / "README.md", CHART / "values.yaml", *sorted((CHART / "ci").glob("*.yaml"))]
    named = {(p.name, m) for p in texts for m in re.findall(r"--(?:no-)?(collector\.[\w.-]*\w)", p.read_text())}
    # and prose naming one: "the textfile collector"
    words = {"a", "an", "any", "default", "every", "each", "no", "one", "that", "the", "this", "which", "your"}
    named |= {
        (p.name, f"collector.{w}")
        for p in texts
        for w in re.findall(r"\b([a-z_]+) collector\b", p.read_text())
        if w not in words
    }
    assert len(named) >= 5
    assert not {(where, flag) for where, flag in named if flag not in flags}
