"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk binds Helm's Go SDK;
no helm binary, no cluster): every manifest is checked against the Kubernetes 1.30 schemas
(kubernetes-validate) and the Prometheus Operator kinds against their CRD schemas (vendored in
tests/data/crds/); the DaemonSet's host mounts, every container's security context, the
PrometheusRule (= deploy/prometheus/alerts) and the dashboards (= deploy/grafana/dashboards) are
asserted; wrong values are refused by values.schema.json with a message naming them.

Without helm-python-sdk, kubernetes-validate or jsonschema the tests skip on a laptop and fail
with CI=true (pip install -e '.[test]')."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import IN_CI, ROOT


def _need(module: str, package: str):
    try:
        return __import__(module)
    except ImportError:
        message = f"{package} is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


helm = _need("helm_python", "helm-python-sdk")
kubernetes_validate = _need("kubernetes_validate", "kubernetes-validate")
jsonschema = _need("jsonschema", "jsonschema")

CHART = ROOT / "helm" / "flextime-exporters"
CRDS = ROOT / "tests" / "data" / "crds"
KUBE_VERSION = "1.30"
RELEASE, NAMESPACE = "flex", "monitoring"
VALUE_SETS = ["default", *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))]
MONITORING_KINDS = {
    "ServiceMonitor": "servicemonitors",
    "PodMonitor": "podmonitors",
    "PrometheusRule": "prometheusrules",
}


def values_of(name: str) -> dict:
    return {} if name == "default" else yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text())


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART) as loaded:
        yield loaded


_rendered: dict[str, list[dict]] = {}


def objects(out: dict[str, str]) -> list[dict]:
    """The Kubernetes objects of a render's output (template -> text), NOTES.txt left out."""
    return [
        d
        for template, text in sorted(out.items())
        if not template.endswith("NOTES.txt")
        for d in yaml.safe_load_all(text)
        if d
    ]


def render(chart, name: str) -> list[dict]:
    """Every object the chart renders for the value set ``name`` (cached)."""
    if name not in _rendered:
        _rendered[name] = objects(chart.render(values_of(name), name=RELEASE, namespace=NAMESPACE, is_install=True))
    return _rendered[name]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("DaemonSet", "Deployment", "StatefulSet")
    ]


def crd_schema(kind: str) -> dict:
    path = CRDS / f"monitoring.coreos.com_{MONITORING_KINDS[kind]}.yaml"
    assert path.exists(), f"no vendored CRD for {kind}: {path}"
    crd = next(d for d in yaml.safe_load_all(path.read_text()) if d)
    return next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]


def test_every_value_set_is_present():
    assert {"node", "inject", "all"} <= set(VALUE_SETS)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_has_no_errors(name):
    report = helm.lint(CHART, values_of(name), strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}.0")
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not errors, errors


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_manifests_validate(chart, name):
    docs = render(chart, name)
    assert docs or name == "default"
    for doc in docs:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in MONITORING_KINDS:
            errors = sorted(jsonschema.Draft7Validator(crd_schema(doc["kind"])).iter_errors(doc), key=str)
            assert not errors, f"{where}: {[f'{list(e.path)}: {e.message}' for e in errors]}"
        elif doc["apiVersion"].startswith("cert-manager.io/"):
            # cert-manager's CRD schemas are not vendored: the fields the chart relies on
            assert doc["apiVersion"] == "cert-manager.io/v1" and doc["kind"] in ("Issuer", "Certificate"), where
            if doc["kind"] == "Certificate":
                assert {"secretName", "issuerRef", "dnsNames"} <= set(doc["spec"]), where
        else:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")


def test_default_values_render_nothing(chart):
    """Every component is off by default, node too: beside kube-prometheus-stack's node-exporter (host
    port 9100 on every node) a second DaemonSet on that port would stay Pending."""
    assert render(chart, "default") == []


def test_daemonset_mounts_args_and_probes(chart):
    (ds,) = of_kind(render(chart, "node"), "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is False
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert {"operator": "Exists"} in spec["tolerations"]
    (c,) = spec["containers"]
    assert c["args"][0] == "node"
    for arg in ("--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root"):
        assert arg in c["args"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    for name, host, mount in (
        ("proc", "/proc", "/host/proc"),
        ("sys", "/sys", "/host/sys"),
        ("root", "/", "/host/root"),
    ):
        assert volumes[name] == host
        assert mounts[name]["mountPath"] == mount and mounts[name]["readOnly"] is True
    assert mounts["root"]["mountPropagation"] == "HostToContainer"
    assert c["livenessProbe"]["httpGet"]["path"] == "/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["ports"][0]["containerPort"] == 9100


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_container_is_locked_down(chart, name):
    specs = pod_specs(render(chart, name))
    assert specs or name == "default"
    for where, spec in specs:
        rbac_proxy = any(c["name"] == "kube-rbac-proxy" for c in spec["containers"])
        # only kube-rbac-proxy calls the API server (TokenReview, SubjectAccessReview)
        assert spec["automountServiceAccountToken"] is rbac_proxy, where
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 65534, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65534, (where, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (where, c["name"])
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, (where, c["name"])


def test_multi_target_allowlists_and_secrets(chart):
    docs = render(chart, "all")
    values = values_of("all")
    cm = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-postgres"))
    config = yaml.safe_load(cm["data"]["postgres.yml"])
    assert config["probe"]["allowed_targets"] == ["db-1.internal:5432", "db-2.internal:5432", "*.pg.example.net:5432"]
    module = config["auth_modules"]["monitoring"]
    assert module["type"] == "userpass" and "password" not in module["userpass"]
    assert module["userpass"]["password_file"] == "/etc/flextime/auth/monitoring"
    deployments = {
        d["metadata"]["name"].rsplit("-", 1)[1]: d["spec"]["template"]["spec"] for d in of_kind(docs, "Deployment")
    }
    pg = deployments["postgres"]
    assert "--config.file=/etc/flextime/postgres.yml" in pg["containers"][0]["args"]
    auth = next(v for v in pg["volumes"] if v["name"] == "auth")["projected"]["sources"]
    assert auth == [{"secret": {"name": "pg-exporter", "items": [{"key": "password", "path": "monitoring"}]}}]
    redis_args = deployments["redis"]["containers"][0]["args"]
    assert "--scrape.allowed-targets=cache-1.internal:6379,queue-1.internal:6380" in redis_args
    assert "--redis.password-file=/etc/flextime/redis/passwords.json" in redis_args
    env = {e["name"]: e for e in deployments["scheduler"]["containers"][0]["env"]}
    assert env["FLEXTIME_SCHEDULER_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "queue-redis",
        "key": "password",
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "flextime-db-monitor"
    sched = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-scheduler"))
    assert yaml.safe_load(sched["data"]["scheduler.yml"]) == values["scheduler"]["config"]


def test_service_monitors_one_endpoint_per_target(chart):
    monitors = {d["metadata"]["name"].rsplit("-", 1)[1]: d for d in of_kind(render(chart, "all"), "ServiceMonitor")}
    assert set(monitors) == {"node", "postgres", "redis", "scheduler"}
    for component, sm in monitors.items():
        assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        for ep in sm["spec"]["endpoints"]:
            job = next(r for r in ep["relabelings"] if r["targetLabel"] == "job")
            assert job["replacement"] == f"{component}-exporter"  # the job names the alert rules use
    pg = monitors["postgres"]["spec"]["endpoints"]
    assert [(e["path"], e.get("params")) for e in pg] == [
        ("/metrics", None),  # the exporter's own metrics
        ("/probe", {"target": ["db-1.internal:5432/postgres"], "auth_module": ["monitoring"]}),
        ("/probe", {"target": ["db-2.internal:5432/postgres"], "auth_module": ["monitoring"]}),
    ]
    rd = monitors["redis"]["spec"]["endpoints"]
    assert [(e["path"], e.get("params", {}).get("target")) for e in rd] == [
        ("/metrics", None),
        ("/scrape", ["redis://cache-1.internal:6379"]),
        ("/scrape", ["rediss://queue-1.internal:6380"]),
    ]


@pytest.mark.parametrize(
    "values, monitored",
    [
        ({"node": {"enabled": True}}, set()),  # off by default
        ({"serviceMonitor": {"enabled": True}, "node": {"enabled": True}}, {"node"}),  # the global switch
        (
            {"serviceMonitor": {"enabled": True}, "node": {"enabled": True}, "scheduler": {"enabled": True}},
            {"node", "scheduler"},
        ),
        (
            {
                "serviceMonitor": {"enabled": True},
                "node": {"enabled": True, "serviceMonitor": {"enabled": False}},
                "scheduler": {"enabled": True},
            },
            {"scheduler"},
        ),  # one component opts out
        ({"scheduler": {"enabled": True, "serviceMonitor": {"enabled": True}}}, {"scheduler"}),  # one opts in
        ({"node": {"enabled": False, "serviceMonitor": {"enabled": True}}}, set()),  # never for a disabled component
    ],
)
def test_service_monitor_switch_per_component(chart, values, monitored):
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = objects(out)
    assert {d["metadata"]["name"].rsplit("-", 1)[1] for d in of_kind(docs, "ServiceMonitor")} == monitored


def test_prometheus_rule_is_deploy_alerts(chart):
    (rule,) = of_kind(render(chart, "all"), "PrometheusRule")
    expected = []
    for path in sorted((ROOT / "deploy" / "prometheus" / "alerts").glob("*.yml")):
        expected += yaml.safe_load(path.read_text())["groups"]
    assert expected and rule["spec"]["groups"] == expected
    # the chart's copy is the same files, so deploy/ and the chart cannot drift apart unnoticed
    for path in (ROOT / "deploy" / "prometheus" / "alerts").glob("*.yml"):
        assert (CHART / "files" / "alerts" / path.name).read_text() == path.read_text(), path.name
    assert len(list((CHART / "files" / "alerts").glob("*.yml"))) == len(list(path.parent.glob("*.yml")))


def test_dashboards_are_deploy_dashboards(chart):
    maps = [d for d in of_kind(render(chart, "all"), "ConfigMap") if "-dashboards-" in d["metadata"]["name"]]
    got = {}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "FlexTime"
        got.update({k: json.loads(v) for k, v in cm["data"].items()})
    expected = {p.name: json.loads(p.read_text()) for p in (ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")}
    assert expected and got == expected


def test_inject_webhook_wiring(chart):
    docs = render(chart, "inject")
    (hook,) = of_kind(docs, "MutatingWebhookConfiguration")
    (wh,) = hook["webhooks"]
    assert wh["failurePolicy"] == "Ignore" and wh["sideEffects"] == "None"
    assert wh["clientConfig"]["service"]["path"] == "/mutate"
    assert wh["clientConfig"]["caBundle"] == values_of("inject")["inject"]["tls"]["caBundle"]
    assert wh["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    (deploy,) = of_kind(docs, "Deployment")
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:4] == [
        "inject",
        "--web.listen-address=:8443",
        "--tls.cert-file=/etc/flextime/tls/tls.crt",
        "--tls.key-file=/etc/flextime/tls/tls.key",
    ]
    assert c["args"][4] == f"--image={c['image']}"  # sidecars get the chart's own image
    for probe, path in (("livenessProbe", "/live"), ("readinessProbe", "/ready")):
        assert c[probe]["httpGet"] == {"path": path, "port": "https", "scheme": "HTTPS"}
    tls = next(v for v in deploy["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "flextime-inject-tls"
    # cert-manager mode: a Certificate for the Service's names and the cainjector annotation
    all_docs = render(chart, "all")
    (hook,) = of_kind(all_docs, "MutatingWebhookConfiguration")
    (cert,) = of_kind(all_docs, "Certificate")
    service = of_kind([d for d in all_docs if d["metadata"]["name"].endswith("-inject")], "Service")[0]["metadata"][
        "name"
    ]
    assert (
        hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/{cert['metadata']['name']}"
    )
    assert f"{service}.{NAMESPACE}.svc" in cert["spec"]["dnsNames"]
    assert "caBundle" not in hook["webhooks"][0]["clientConfig"]


def test_sidecar_template_in_another_chart(tmp_path):
    """A parent chart with this chart as a dependency includes the sidecar in its own pod."""
    parent = tmp_path / "db"
    (parent / "templates").mkdir(parents=True)
    (parent / "charts").mkdir()
    (parent / "charts" / "flextime-exporters").symlink_to(CHART, target_is_directory=True)
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: db\nversion: 1.0.0\ndependencies:\n  - {name: flextime-exporters, version: 0.1.0}\n"
    )
    (parent / "values.yaml").write_text("flextime-exporters:\n  node: {enabled: false}\n")
    (parent / "templates" / "statefulset.yaml").write_text("""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: postgres
          image: postgres:16
        {{- include "flextime-exporters.sidecar" (dict "exporter" "postgres" "passwordSecret" (dict "name" "db" "key" "password")) | nindent 8 }}
        {{- include "flextime-exporters.sidecar" (dict "exporter" "redis" "address" "redis://localhost:6380") | nindent 8 }}
""")
    with helm.Chart.load(parent) as loaded:
        out = loaded.render({}, name="db", namespace="db")
    docs = objects(out)
    (sts,) = docs
    kubernetes_validate.validate(sts, KUBE_VERSION, strict=True)
    _, pg, rd = sts["spec"]["template"]["spec"]["containers"]
    assert pg["args"][0] == "postgres" and rd["args"][0] == "redis"
    assert {"name": "DATA_SOURCE_PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in pg["env"]
    assert {"name": "REDIS_ADDR", "value": "redis://localhost:6380"} in rd["env"]
    for c in (pg, rd):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    "bad, named",
    [
        ({"node": {"enabled": "yes"}}, "/node/enabled"),
        ({"mysql": {"enabled": True}}, "mysql"),
        ({"node": {"enabeld": True}}, "enabeld"),
        (
            {"postgres": {"targets": [{"name": "db", "host": "db", "authModule": "m", "port": "5432"}]}},
            "/postgres/targets/0/port",
        ),
        ({"redis": {"passwordFileSecret": {"name": "x", "key": "k", "password": "hunter2"}}}, "password"),
        ({"inject": {"failurePolicy": "Sometimes"}}, "/inject/failurePolicy"),
        ({"redis": {"serviceMonitor": {"enabled": "on"}}}, "/redis/serviceMonitor/enabled"),
        ({"node": {"listenOnAllInterfaces": "no"}}, "/node/listenOnAllInterfaces"),
        ({"serviceMonitor": {"relabelings": [{"action": "rename"}]}}, "/serviceMonitor/relabelings/0/action"),
        ({"postgres": {"serviceMonitor": {"metricRelabelings": [{"source_labels": ["x"]}]}}}, "source_labels"),
        ({"prometheusRule": {"disabled": {"RedisDown": "yes"}}}, "/prometheusRule/disabled/RedisDown"),
        (
            {"node": {"extraHostVolumeMounts": [{"name": "t", "hostPath": "var/lib", "mountPath": "/t"}]}},
            "/node/extraHostVolumeMounts/0/hostPath",
        ),
        ({"inject": {"podDisruptionBudget": {"maxUnavalable": 1}}}, "maxUnavalable"),
        ({"global": {"imagePullSecrets": [{"nam": "x"}]}}, "/global/imagePullSecrets/0"),
    ],
)
def test_wrong_values_are_refused_naming_them(chart, bad, named):
    with pytest.raises(helm.HelmValuesError) as exc:
        chart.validate_schema(bad)
    assert named in str(exc.value)
    with pytest.raises(helm.HelmValuesError) as exc:  # install / template refuse them too
        chart.render(bad, name=RELEASE, namespace=NAMESPACE)
    assert named in str(exc.value)


def test_inconsistent_values_fail_with_a_message(chart):
    bad = {"postgres": {"enabled": True, "targets": [{"name": "db", "host": "db", "authModule": "nope"}]}}
    with pytest.raises(helm.HelmError, match='authModule "nope"'):
        chart.render(bad, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(helm.HelmError, match="postgres.targets or postgres.allowedTargets"):
        chart.render({"postgres": {"enabled": True}}, name=RELEASE)  # the exporter would exit 2
    with pytest.raises(helm.HelmError, match="caBundle"):
        chart.render({"inject": {"enabled": True, "tls": {"certManager": {"enabled": False}}}}, name=RELEASE)


def test_crd_schemas_catch_mistakes(chart):
    """The vendored CRD schemas are not vacuous: a wrong relabel action or duration is refused."""
    docs = render(chart, "all")
    sm = json.loads(json.dumps(of_kind(docs, "ServiceMonitor")[0]))
    sm["spec"]["endpoints"][0]["relabelings"][0]["action"] = "rename"
    rule = json.loads(json.dumps(of_kind(docs, "PrometheusRule")[0]))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    for doc in (sm, rule):
        assert list(jsonschema.Draft7Validator(crd_schema(doc["kind"])).iter_errors(doc)), doc["kind"]


# --- the values a prometheus-community chart user brings (ci/community-values.yaml) -------------------------

FULL = f"{RELEASE}-flextime-exporters"
CLUSTER_SCOPED = {"MutatingWebhookConfiguration", "ClusterRole", "ClusterRoleBinding"}


def named(docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(spec: dict, name: str) -> dict:
    (c,) = [c for c in spec["containers"] if c["name"] == name]
    return c


def test_community_values_reach_their_objects(chart):
    docs = render(chart, "community")
    values = values_of("community")
    # namespaceOverride: every namespaced object
    for d in docs:
        if d["kind"] not in CLUSTER_SCOPED:
            assert d["metadata"]["namespace"] == "observability", (d["kind"], d["metadata"]["name"])
    # extraManifests, objects and strings, through tpl
    assert named(docs, "ConfigMap", f"{RELEASE}-extra")["data"] == {"note": f"installed by {RELEASE}"}
    assert named(docs, "ConfigMap", f"{RELEASE}-extra-string")["data"] == {"note": "a string manifest"}
    for component, kind, main in (
        ("node", "DaemonSet", "node-exporter"),
        ("postgres", "Deployment", "postgres-exporter"),
        ("redis", "Deployment", "redis-exporter"),
        ("scheduler", "Deployment", "scheduler-exporter"),
        ("inject", "Deployment", "inject"),
    ):
        c = values[component]
        workload = named(docs, kind, f"{FULL}-{component}")
        pod = workload["spec"]["template"]
        spec = pod["spec"]
        # global.imagePullSecrets (a bare name, as community charts take it) after imagePullSecrets
        assert spec["imagePullSecrets"] == [{"name": "flextime-pull"}, {"name": "registry-example-net"}], component
        # global.imageRegistry wins over image.registry
        assert container(spec, main)["image"] == "registry.example.net/flextime/flextime-exporters:0.1.0", component
        assert c["podAnnotations"].items() <= pod["metadata"]["annotations"].items(), component
        assert c["podLabels"].items() <= pod["metadata"]["labels"].items(), component
        service = named(docs, "Service", f"{FULL}-{component}")
        assert service["metadata"]["annotations"] == c["service"]["annotations"], component
        for volume in c.get("extraVolumes", []):
            assert volume in spec["volumes"], component
        for mount in c.get("extraVolumeMounts", []):
            assert mount in container(spec, main)["volumeMounts"], component
        for extra in c.get("extraContainers", []):
            assert container(spec, extra["name"]) == extra, component
        assert spec.get("initContainers", []) == c.get("initContainers", []), component
        policy = named(docs, "NetworkPolicy", f"{FULL}-{component}")
        assert policy["spec"]["podSelector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
        (ingress,) = policy["spec"]["ingress"]
        assert ingress["ports"] == [{"port": container(spec, main)["ports"][0]["containerPort"], "protocol": "TCP"}], (
            component
        )
        assert ingress.get("from", []) == c["networkPolicy"].get("ingressFrom", []), component
    # node: another port (beside kube-prometheus-stack's 9100), the host's IP only, a host directory
    node = named(docs, "DaemonSet", f"{FULL}-node")["spec"]["template"]["spec"]
    exporter = container(node, "node-exporter")
    assert "--web.listen-address=[$(HOST_IP)]:9110" in exporter["args"]
    assert {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}} in exporter["env"]
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9110, "hostPort": 9110, "protocol": "TCP"}]
    assert {
        "name": "textfile",
        "hostPath": {"path": "/var/lib/node_exporter/textfile", "type": "DirectoryOrCreate"},
    } in node["volumes"]
    assert {"name": "textfile", "mountPath": "/host/textfile", "readOnly": True} in exporter["volumeMounts"]
    assert node["hostPID"] is False
    # where postgres and redis may connect: DNS and their targets' ports only
    pg_egress = named(docs, "NetworkPolicy", f"{FULL}-postgres")["spec"]["egress"]
    assert pg_egress[1] == {"ports": [{"port": 5433, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}
    assert {"port": 53, "protocol": "UDP"} in pg_egress[0]["ports"]
    assert named(docs, "NetworkPolicy", f"{FULL}-redis")["spec"]["egress"][1] == {
        "ports": [{"port": 6380, "protocol": "TCP"}]
    }
    assert "egress" not in named(docs, "NetworkPolicy", f"{FULL}-scheduler")["spec"]
    # the webhook: replicas, its PodDisruptionBudget (minAvailable given), spread over nodes
    inject = named(docs, "Deployment", f"{FULL}-inject")
    assert inject["spec"]["replicas"] == 3
    assert named(docs, "PodDisruptionBudget", f"{FULL}-inject")["spec"] == {
        "minAvailable": 2,
        "selector": inject["spec"]["selector"],
    }
    anti = inject["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert (
        anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"]
        == "kubernetes.io/hostname"
    )


def test_community_monitor_settings(chart):
    docs = render(chart, "community")
    sm = values_of("community")["serviceMonitor"]
    monitors = {(d["kind"], d["metadata"]["name"].rsplit("-", 1)[1]): d for d in docs if d["kind"] in MONITORING_KINDS}
    assert set(monitors) == {
        ("ServiceMonitor", "node"),
        ("ServiceMonitor", "postgres"),
        ("PodMonitor", "redis"),
        ("ServiceMonitor", "scheduler"),
        ("PrometheusRule", "rules"),
    }
    node = monitors["ServiceMonitor", "node"]
    assert node["spec"]["sampleLimit"] == 100000 and node["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (ep,) = node["spec"]["endpoints"]
    assert ep["interval"] == "60s" and ep["scrapeTimeout"] == "30s"
    assert ep["metricRelabelings"] == sm["metricRelabelings"]
    # the chart's relabelings first, then the component's own (which replace the global ones)
    assert [r["targetLabel"] for r in ep["relabelings"]] == ["job", "instance", "node"]
    pg = monitors["ServiceMonitor", "postgres"]
    assert pg["spec"]["sampleLimit"] == 20000
    for ep in pg["spec"]["endpoints"]:
        assert ep["metricRelabelings"] == [{"action": "drop", "sourceLabels": ["__name__"], "regex": "pg_settings_.*"}]
        assert ep["relabelings"][-1] == {"action": "replace", "targetLabel": "cluster", "replacement": "prod-eu-1"}
    redis = monitors["PodMonitor", "redis"]
    assert [e["path"] for e in redis["spec"]["podMetricsEndpoints"]] == ["/metrics", "/scrape"]
    assert all(e["honorLabels"] is True for e in redis["spec"]["podMetricsEndpoints"])
    alerts = {
        r["alert"] for g in monitors["PrometheusRule", "rules"]["spec"]["groups"] for r in g["rules"] if "alert" in r
    }
    # kube-prometheus-stack ships these under its own names; DatabaseSlowQueries switched off by name
    assert not alerts & {
        "KubernetesPodCrashLooping",
        "KubernetesNodeNotReady",
        "HighCPUUsage",
        "HighMemoryUsage",
        "DiskSpaceLow",
        "DatabaseSlowQueries",
    }
    assert {"ExporterDown", "DatabaseDown", "RedisDown"} <= alerts


def test_job_label_replaces_the_job_relabeling(chart):
    docs = objects(
        chart.render(
            {"node": {"enabled": True}, "serviceMonitor": {"enabled": True, "jobLabel": "app.kubernetes.io/name"}},
            name=RELEASE,
            namespace=NAMESPACE,
        )
    )
    (sm,) = of_kind(docs, "ServiceMonitor")
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert [r["targetLabel"] for r in sm["spec"]["endpoints"][0]["relabelings"]] == ["instance"]


@pytest.mark.parametrize("component", ["postgres", "redis"])
def test_no_monitor_without_endpoints(chart, component):
    """No targets: only the exporter's own /metrics, and with exporterMetrics off no monitor at all
    (a ServiceMonitor with null endpoints is refused by the operator)."""
    values = {"serviceMonitor": {"enabled": True}, component: {"enabled": True, "allowedTargets": ["*.internal:1"]}}
    (sm,) = of_kind(objects(chart.render(values, name=RELEASE, namespace=NAMESPACE)), "ServiceMonitor")
    assert [e["path"] for e in sm["spec"]["endpoints"]] == ["/metrics"]
    values[component]["serviceMonitor"] = {"exporterMetrics": False}
    assert of_kind(objects(chart.render(values, name=RELEASE, namespace=NAMESPACE)), "ServiceMonitor") == []


def test_alerts_switched_off_by_name(chart):
    base = {"prometheusRule": {"enabled": True}}
    (rule,) = of_kind(objects(chart.render(base, name=RELEASE, namespace=NAMESPACE)), "PrometheusRule")
    names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert "KubernetesPodCrashLooping" in names and "RedisDown" in names
    values = {"prometheusRule": {"enabled": True, "disabled": {"RedisDown": True, "ExporterDown": False}}}
    (rule,) = of_kind(objects(chart.render(values, name=RELEASE, namespace=NAMESPACE)), "PrometheusRule")
    left = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert left == [n for n in names if n != "RedisDown"]
    with pytest.raises(helm.HelmError, match='no bundled alert is named "RedisDwn"'):
        chart.render({"prometheusRule": {"enabled": True, "disabled": {"RedisDwn": True}}}, name=RELEASE)


def test_inject_defaults_two_replicas_spread_with_a_budget(chart):
    docs = render(chart, "inject")
    (deploy,) = of_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert "podAntiAffinity" in deploy["spec"]["template"]["spec"]["affinity"]
    (pdb,) = of_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": deploy["spec"]["selector"]}


def test_node_behind_kube_rbac_proxy_in_its_own_namespace(chart):
    docs = render(chart, "node-rbac")
    (ds,) = of_kind(docs, "DaemonSet")
    assert ds["metadata"]["namespace"] == "node-exporters"
    spec = ds["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == ds["metadata"]["name"] and spec["automountServiceAccountToken"] is True
    exporter, proxy = spec["containers"]
    assert "--web.listen-address=127.0.0.1:9101" in exporter["args"] and "ports" not in exporter
    assert proxy["image"] == "quay.io/brancz/kube-rbac-proxy:v0.19.1"
    assert proxy["args"][:2] == ["--secure-listen-address=[$(HOST_IP)]:9100", "--upstream=http://127.0.0.1:9101/"]
    assert proxy["ports"][0] == {"name": "metrics", "containerPort": 9100, "hostPort": 9100, "protocol": "TCP"}
    (role,) = of_kind(docs, "ClusterRole")
    assert {r["resources"][0] for r in role["rules"]} == {"tokenreviews", "subjectaccessreviews"}
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": ds["metadata"]["name"], "namespace": "node-exporters"}
    ]
    (pm,) = of_kind(docs, "PodMonitor")
    assert pm["spec"]["namespaceSelector"] == {"matchNames": ["node-exporters"]}
    assert pm["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # podMonitor.additionalLabels
    # global.imageRegistry applies to the proxy's image too
    values = {**values_of("node-rbac"), "global": {"imageRegistry": "registry.example.net"}}
    (ds,) = of_kind(objects(chart.render(values, name=RELEASE, namespace=NAMESPACE)), "DaemonSet")
    images = [c["image"] for c in ds["spec"]["template"]["spec"]["containers"]]
    assert images == [
        "registry.example.net/flextime/flextime-exporters:0.1.0",
        "registry.example.net/brancz/kube-rbac-proxy:v0.19.1",
    ]
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["scheme"] == "https" and ep["authorization"]["credentials"] == {
        "name": "prometheus-scrape-token",
        "key": "token",
    }


@pytest.mark.parametrize("name", VALUE_SETS)
def test_only_node_pods_need_pod_security_privileged(chart, name):
    """Host paths and host namespaces (Pod Security "privileged") only in the node DaemonSet, which
    node.namespace can put apart: every other pod of the chart meets "restricted"."""
    for where, spec in pod_specs(render(chart, name)):
        host = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
        host += [v["name"] for v in spec.get("volumes", []) if "hostPath" in v]
        assert not host or where.startswith("DaemonSet/") and where.endswith("-node"), (where, host)
        assert spec.get("hostPID") is not True, where  # no collector needs it


def test_replicas_shard_targets_by_hashmod(chart):
    """postgres.replicas=3: a StatefulSet (stable pod ordinals), and every target endpoint keeps only the
    pod whose ordinal is hashmod(target, 3): each target reaches one replica, always the same."""
    values = values_of("all")
    values["postgres"] = {**values["postgres"], "replicas": 3}
    docs = objects(chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True))
    pg = [d for d in docs if d["metadata"]["name"].endswith("-postgres") and d["kind"] in ("StatefulSet", "Deployment")]
    assert [(d["kind"], d["spec"]["replicas"], d["spec"]["serviceName"]) for d in pg] == [
        ("StatefulSet", 3, pg[0]["metadata"]["name"])
    ]
    rd = [d for d in docs if d["metadata"]["name"].endswith("-redis") and d["kind"] in ("StatefulSet", "Deployment")]
    assert [d["kind"] for d in rd] == ["Deployment"]  # one replica: unchanged
    monitor = next(d for d in of_kind(docs, "ServiceMonitor") if d["metadata"]["name"].endswith("-postgres"))
    for ep in monitor["spec"]["endpoints"]:
        shard = [r for r in ep["relabelings"] if r["action"] in ("hashmod", "keep")]
        if ep["path"] == "/metrics":
            assert shard == []  # the exporter's own metrics: every replica
            continue
        assert shard == [
            {"action": "hashmod", "sourceLabels": ["__param_target"], "modulus": 3, "targetLabel": "__tmp_shard"},
            {"action": "keep", "sourceLabels": ["__tmp_shard", "__tmp_ordinal"], "regex": "0;0|1;1|2;2"},
        ]
    for kind in ("StatefulSet", "ServiceMonitor"):
        assert of_kind(docs, kind)
