"""deploy/ checked without a Docker engine, with the tools operators use.

* docker compose: Debian's docker-compose parses and validates the files against
  its schema (``config``); every file a service points at exists; Kafka writes
  its topics to the volume mounted for them.
* Dockerfiles: every COPY source is in the build context.
* Kubernetes: each overlay is built with kustomize (``kubectl kustomize``) and
  every object is validated against the Kubernetes JSON schemas, offline and
  strict (kubernetes-validate); then what the manifests promise is checked
  (GPU requests, probes, autoscaling target, disruption budgets, config).
* Prometheus: ``promtool check config``, ``promtool check rules`` and the
  alert rules' own unit tests (``promtool test rules``).
* Grafana: the dashboard is well formed and uses the provisioned data source.
* And the point of it all: every metric the dashboard, the alert rules and the
  autoscaler query is exported by a real worker. The last test starts one on the
  real broker, pushes a little traffic through every stage, scrapes /metrics and
  checks each name (and each label value a query pins) is there, and asks the
  probes' /healthz and /readyz.

Tools come from scripts/setup.sh. Without one the test skips and says which,
except under CI, where a missing tool is a failure: CI runs setup first.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_GPU = DEPLOY / "docker-compose.gpu.yml"
K8S = DEPLOY / "k8s"
OVERLAYS = ("cpu", "gpu")
RULES = DEPLOY / "prometheus" / "rules" / "callradar.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "rules" / "callradar.rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "callradar.json"
ADAPTER = K8S / "prometheus-adapter" / "values.yaml"
# Oldest and newest Kubernetes the manifests must be valid for (autoscaling/v2 and policy/v1 need >= 1.23).
K8S_VERSIONS = ("1.27.0", "1.33.0")
# Series Prometheus makes itself; no worker exports them.
PROMETHEUS_OWN_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}


def tool(name: str, how: str) -> str:
    """A command-line tool from PATH or the venv, else skip (fail under CI, which runs setup)."""
    found = shutil.which(name) or next(
        (str(p) for p in [Path(sys.prefix) / "bin" / name, REPO / ".venv" / "bin" / name] if p.exists()), None
    )
    if found:
        return found
    message = f"{name} not found; {how} (scripts/setup.sh does this)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, but CI runs scripts/setup.sh first")
    pytest.skip(message)


def run(cmd: list[str], cwd: Path = REPO, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=180)
    if ok:
        assert done.returncode == 0, f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def docker_compose() -> str:
    return tool("docker-compose", "apt-get install --no-install-recommends docker-compose")


def promtool() -> str:
    return tool("promtool", "it is extracted from Debian's prometheus package into .venv/bin")


def kubectl() -> str:
    return tool("kubectl", "apt-get install kubernetes-client")


# ---------------------------------------------------------------- PromQL references


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
            "unless", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"')  # equality only: =~ and != pin nothing
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def promql_references(expr: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    """(metric names, {(metric, label, value)} pinned by equality matchers) in a PromQL expression.

    Grafana variables ($__rate_interval) and prometheus-adapter templates (<<.Series>>) are dropped first.
    """
    expr = re.sub(r"<<[^>]*>>", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", "1m", expr)
    pinned = set()
    for name, matchers in _SELECTOR.findall(expr):
        for label, value in _MATCHER.findall(re.sub(r'(=~|!=|!~)\s*"[^"]*"', "", matchers)):
            pinned.add((name, label, value))
    expr = re.sub(r"\{[^}]*\}", " ", _STRING.sub('""', expr))
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\boffset\s+\w+", " ", expr)
    expr = re.sub(r"(?<![A-Za-z_:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", expr)  # numbers
    names = set()
    for m in _IDENT.finditer(expr):
        if expr[m.end():].lstrip().startswith("(") or m.group().lower() in KEYWORDS:
            continue  # a function or an operator
        names.add(m.group())
    return names, pinned


def test_promql_reference_parser():
    names, pinned = promql_references(
        'histogram_quantile(0.95, sum by (hop, le) (rate(callradar_latency_seconds_bucket{hop="x", job=~"a.*"}'
        '[$__rate_interval]))) / on (instance) group_left up{job="j"} > 1.5e3 and absent(foo:bar:sum offset 5m)'
    )
    assert names == {"callradar_latency_seconds_bucket", "up", "foo:bar:sum"}
    assert pinned == {("callradar_latency_seconds_bucket", "hop", "x"), ("up", "job", "j")}


def dashboard_exprs() -> list[str]:
    def walk(panels):
        for panel in panels:
            yield from walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield target["expr"]

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


def rule_docs() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def adapter_exprs() -> list[str]:
    rules = yaml.safe_load(ADAPTER.read_text())["rules"]
    return [r[key] for kind in ("custom", "external") for r in rules.get(kind, []) for key in ("seriesQuery", "metricsQuery")]


def queried_metrics() -> tuple[dict[str, set[str]], set[tuple[str, str, str]]]:
    """{metric: {where it is queried}}, and the label values queries pin, over dashboard, rules, adapter."""
    where: dict[str, set[str]] = {}
    pinned: set[tuple[str, str, str]] = set()
    sources = [("dashboard", e) for e in dashboard_exprs()]
    sources += [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in rule_docs()]
    sources += [("prometheus-adapter", e) for e in adapter_exprs()]
    for source, expr in sources:
        names, pins = promql_references(expr)
        for name in names:
            where.setdefault(name, set()).add(source)
        pinned |= pins
    return where, pinned


# ---------------------------------------------------------------- docker compose


def compose_config(*files: Path) -> dict:
    args = [docker_compose()]
    for f in files:
        args += ["-f", str(f)]
    return yaml.safe_load(run(args + ["config"]).stdout)


def test_compose_files_are_valid_compose():
    base = compose_config(COMPOSE)
    assert {"kafka", "transcribe", "score-trigger", "console", "prometheus", "grafana"} <= set(base["services"])
    assert base["services"]["kafka"]["image"].startswith("apache/kafka:")
    gpu = compose_config(COMPOSE, COMPOSE_GPU)["services"]["transcribe"]
    assert gpu["build"]["dockerfile"] == "deploy/Dockerfile.gpu"
    assert gpu["environment"]["CALLRADAR_WHISPER_DEVICE"] == "cuda"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_compose_validation_is_real(tmp_path):
    """The same check refuses a misspelt key, so passing it means something."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restrat: unless-stopped\n", 1))
    done = run([docker_compose(), "-f", str(broken), "config", "-q"], ok=False)
    assert done.returncode != 0 and "restrat" in done.stderr


def _bind_mounts(service: dict) -> list[tuple[Path, str]]:
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):  # docker-compose 1.x prints "source:target[:mode]"
            parts = volume.split(":")
            if parts[0].startswith("/"):
                out.append((Path(parts[0]), parts[1]))
        elif volume.get("type") == "bind":
            out.append((Path(volume["source"]), volume["target"]))
    return out


def _named_volume_targets(service: dict, declared) -> list[str]:
    """Where the service mounts the compose file's named volumes (not bind mounts, not anonymous ones)."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):  # docker-compose 1.x prints "name:target[:mode]"
            parts = volume.split(":")
            if len(parts) > 1 and parts[0] in declared:
                out.append(parts[1])
        elif volume.get("type") == "volume" and volume.get("source") in declared:
            out.append(volume["target"])
    return out


def kafka_data_problems(config: dict) -> list[str]:
    """Why the compose Kafka would lose its topics when its container is recreated; empty if it would not.

    The apache/kafka image writes to KAFKA_LOG_DIRS, /tmp/kraft-combined-logs inside the container
    when unset. So each log dir must lie on a named volume, and each named volume must hold a log dir.
    """
    kafka = config["services"]["kafka"]
    log_dirs = [Path(d.strip()) for d in str(kafka.get("environment", {}).get("KAFKA_LOG_DIRS") or "").split(",")
                if d.strip()]
    volumes = [Path(t) for t in _named_volume_targets(kafka, config.get("volumes") or {})]
    problems = [] if log_dirs else ["KAFKA_LOG_DIRS is not set: the image writes to /tmp/kraft-combined-logs"]
    problems += [f"KAFKA_LOG_DIRS has {d}, which is on no named volume" for d in log_dirs
                 if not any(d.is_relative_to(v) for v in volumes)]
    problems += [f"the volume mounted at {v} holds none of KAFKA_LOG_DIRS {[str(d) for d in log_dirs]}"
                 for v in volumes if not any(d.is_relative_to(v) for d in log_dirs)]
    if not volumes:
        problems.append("no named volume is mounted into kafka")
    return problems


def test_compose_kafka_keeps_its_topics_on_its_volume():
    config = compose_config(COMPOSE)
    assert kafka_data_problems(config) == []
    # The check catches the mistakes it is there for.
    env = config["services"]["kafka"]["environment"]
    for wrong in (None, "/tmp/kraft-combined-logs", "/var/lib/kafka"):
        broken = json.loads(json.dumps(config))
        broken["services"]["kafka"]["environment"] = {**env, "KAFKA_LOG_DIRS": wrong}
        assert kafka_data_problems(broken), f"KAFKA_LOG_DIRS={wrong} passed"
    broken = json.loads(json.dumps(config))
    broken["services"]["kafka"]["volumes"] = []
    assert kafka_data_problems(broken) == [f"KAFKA_LOG_DIRS has {env['KAFKA_LOG_DIRS']}, which is on no named volume",
                                           "no named volume is mounted into kafka"]


def test_compose_points_at_files_that_exist():
    for files in [(COMPOSE,), (COMPOSE, COMPOSE_GPU)]:
        for name, service in compose_config(*files)["services"].items():
            build = service.get("build")
            if build:
                context = Path(build["context"])
                assert context.is_dir(), f"{name}: build context {context} is missing"
                assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: no Dockerfile"
            for source, _ in _bind_mounts(service):
                assert source.exists(), f"{name}: mounts {source}, which does not exist"
            for env_file in service.get("env_file", []):
                assert Path(env_file).is_file(), f"{name}: env_file {env_file} is missing"


def test_compose_wires_prometheus_and_grafana_to_the_files_they_read():
    services = compose_config(COMPOSE)["services"]
    prom_mounts = {target: source for source, target in _bind_mounts(services["prometheus"])}
    config_flag = next(a for a in services["prometheus"]["command"] if a.startswith("--config.file="))
    config_path = config_flag.split("=", 1)[1]
    assert prom_mounts[config_path] == DEPLOY / "prometheus" / "prometheus.yml"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for pattern in config["rule_files"]:  # relative to the config file, inside the container
        in_container = str(Path(config_path).parent / Path(pattern).parent)
        assert list(prom_mounts[in_container].glob(Path(pattern).name)), f"rule_files {pattern} matches nothing"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service in ("transcribe", "score-trigger"):
        names = jobs[f"callradar-{service}"]["dns_sd_configs"][0]["names"]
        assert names == [service], "Prometheus must find every replica of the compose service by its name"
        port = services[service]["environment"]["CALLRADAR_WORKER_WEB_PORT"]
        assert str(jobs[f"callradar-{service}"]["dns_sd_configs"][0]["port"]) == port

    grafana_mounts = {target: source for source, target in _bind_mounts(services["grafana"])}
    provisioning = grafana_mounts["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards" / "callradar.yml").read_text())["providers"][0]
    dashboards = grafana_mounts[provider["options"]["path"]]
    assert (dashboards / DASHBOARD.name).is_file()
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    variable = json.loads(DASHBOARD.read_text())["templating"]["list"][0]
    assert variable["current"]["value"] == datasource["uid"], "the dashboard must open on the provisioned source"


def test_compose_publishes_ports_on_loopback_only():
    for name, service in compose_config(COMPOSE, COMPOSE_GPU)["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


# ---------------------------------------------------------------- Dockerfiles


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfile_copies_what_the_build_context_has(name):
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    steps = _instructions(DEPLOY / name)
    copies = [rest.split() for word, rest in steps if word == "COPY" and "--from=" not in rest]
    assert copies
    for args in copies:
        for source in [a for a in args[:-1] if not a.startswith("--")]:
            assert (REPO / source).exists(), f"{name}: COPY {source}: not in the repository"
            assert source.rstrip("/") not in ignored, f"{name}: COPY {source}, but .dockerignore leaves it out"
    froms = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert all(":" in image or image.startswith("${") for image in froms), f"{name}: pin every base image"
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "CALLRADAR_WORKER_WEB_HOST=0.0.0.0" in env  # in a container, loopback would hide /metrics
    assert ("CALLRADAR_WHISPER_DEVICE=cuda" in env) == (name == "Dockerfile.gpu")


# ---------------------------------------------------------------- Kubernetes


def kustomize_build(overlay: str) -> list[dict]:
    standalone = shutil.which("kustomize")
    cmd = [standalone, "build"] if standalone else [kubectl(), "kustomize"]
    docs = [d for d in yaml.safe_load_all(run(cmd + [str(K8S / "overlays" / overlay)]).stdout) if d]
    assert docs, f"overlay {overlay} built nothing"
    return docs


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, kustomize_build(request.param)


def _one(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def test_kubernetes_objects_validate_against_the_schemas(overlay):
    import kubernetes_validate

    name, docs = overlay
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for version in K8S_VERSIONS:
        for doc in docs + [example]:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']} is not valid Kubernetes "
                            f"{version}: {exc.message} at {'/'.join(map(str, exc.path))}")


def test_kubernetes_validation_is_real():
    """The same validator refuses a misspelt field, so passing it means something."""
    import kubernetes_validate

    deployment = _one(kustomize_build("cpu"), "Deployment", "callradar-transcribe")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def test_workers_have_probes_resources_config_and_scrape_annotations(overlay):
    name, docs = overlay
    config = _one(docs, "ConfigMap", "callradar-config")["data"]
    port = int(config["CALLRADAR_WORKER_WEB_PORT"])
    assert config["CALLRADAR_WORKER_WEB_HOST"] == "0.0.0.0"
    for deployment in ("callradar-transcribe", "callradar-score-trigger"):
        pod = _one(docs, "Deployment", deployment)["spec"]["template"]
        container = pod["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == port
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        sources = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]}
        assert sources == {"configMapRef": "callradar-config", "secretRef": "callradar-secrets"}
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == port and annotations["prometheus.io/path"] == "/metrics"
    assert yaml.safe_load((K8S / "secret.example.yaml").read_text())["metadata"]["name"] == "callradar-secrets"


def test_disruption_budgets_cover_the_worker_pods(overlay):
    _, docs = overlay
    for name in ("callradar-transcribe", "callradar-score-trigger"):
        selector = _one(docs, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
        labels = _one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"PDB {name} selects no pod of its deployment"


def test_transcription_autoscales_on_lag_within_the_partition_count(overlay):
    _, docs = overlay
    hpa = _one(docs, "HorizontalPodAutoscaler", "callradar-transcribe")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "callradar-transcribe"}
    partitions = int(_one(docs, "ConfigMap", "callradar-config")["data"]["CALLRADAR_TOPIC_PARTITIONS"])
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"] <= partitions
    external = [m["external"]["metric"]["name"] for m in hpa["metrics"] if m["type"] == "External"]
    pods = [m["pods"]["metric"]["name"] for m in hpa["metrics"] if m["type"] == "Pods"]
    assert external == ["callradar_audio_consumer_lag"] and pods == ["callradar_stt_busy_ratio"]
    rules = yaml.safe_load(ADAPTER.read_text())["rules"]
    served = {r["name"]["as"] for kind in ("custom", "external") for r in rules[kind]}
    assert set(external + pods) <= served, "prometheus-adapter must serve every metric the HPA asks for"
    assert "replicas" not in _one(docs, "Deployment", "callradar-transcribe")["spec"], "the HPA owns replicas"


def test_gpu_overlay_puts_transcription_on_gpus_and_the_cpu_overlay_does_not(overlay):
    name, docs = overlay
    transcribe = _one(docs, "Deployment", "callradar-transcribe")["spec"]["template"]["spec"]
    container = transcribe["containers"][0]
    gpus = container["resources"].get("limits", {}).get("nvidia.com/gpu")
    if name == "cpu":
        assert gpus is None and "nodeSelector" not in transcribe
        assert container["image"].endswith("-cpu")
        return
    assert gpus == 1 and container["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert transcribe["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in transcribe["tolerations"]
    assert container["image"].endswith("-gpu")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"CALLRADAR_WHISPER_DEVICE": "cuda", "CALLRADAR_WHISPER_COMPUTE_TYPE": "float16"}
    score = _one(docs, "Deployment", "callradar-score-trigger")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in score["containers"][0]["resources"].get("limits", {})


# ---------------------------------------------------------------- Prometheus


def test_promtool_checks_the_compose_config_and_its_rules():
    out = run([promtool(), "check", "config", "prometheus.yml"], cwd=DEPLOY / "prometheus")
    assert "SUCCESS" in out.stdout + out.stderr
    out = run([promtool(), "check", "rules", str(RULES)])
    assert "SUCCESS" in out.stdout + out.stderr


def test_promtool_checks_the_kubernetes_config(tmp_path):
    """Debian's promtool is built without Kubernetes discovery; then the rest is checked with static targets."""
    config = DEPLOY / "prometheus" / "prometheus-k8s.yml"
    done = run([promtool(), "check", "config", config.name], cwd=config.parent, ok=False)
    if done.returncode != 0 and "kubernetes_sd_configs not found" in done.stdout + done.stderr:
        doc = yaml.safe_load(config.read_text())
        for job in doc["scrape_configs"]:
            job.pop("kubernetes_sd_configs")
            job["static_configs"] = [{"targets": ["10.0.0.1:6066"]}]
        shutil.copytree(RULES.parent, tmp_path / "rules")
        (tmp_path / config.name).write_text(yaml.safe_dump(doc))
        done = run([promtool(), "check", "config", config.name], cwd=tmp_path, ok=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_fire_when_they_should():
    out = run([promtool(), "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent)
    assert "SUCCESS" in out.stdout + out.stderr


def test_the_rules_cover_latency_lag_dead_letters_and_workers():
    alerts = {r["alert"]: r for r in rule_docs() if "alert" in r}
    assert {"CallradarScoreLatencyHigh", "CallradarAlertLatencyHigh", "CallradarConsumerLagGrowing",
            "CallradarDeadLettersHigh", "CallradarWorkerDown"} <= set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"], name
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert set(alerts) <= tested, f"alerts without a promtool test: {sorted(set(alerts) - tested)}"


# ---------------------------------------------------------------- Grafana


def test_dashboard_is_well_formed_and_shows_what_operators_need():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0, p["title"]
    queried = " ".join(dashboard_exprs())
    for needed in ('hop="utterance_end_to_score"', 'hop="utterance_end_to_alert"', "histogram_quantile(0.99",
                   "callradar_active_calls", "callradar_alerts_total", "callradar_stt_busy_seconds_total",
                   "callradar_consumer_lag", "callradar_dead_letters_total", "process_resident_memory_bytes"):
        assert needed in queried, f"the dashboard shows nothing of {needed}"


def test_recording_rules_used_anywhere_are_defined():
    recorded = {r["record"] for r in rule_docs() if "record" in r}
    where, _ = queried_metrics()
    assert {n for n in where if ":" in n} <= recorded


# ---------------------------------------------------------------- what a real worker exports


def _tone_call(call_id: str, seconds_of_speech: float = 1.2):
    """Two channels at 8 kHz: the customer makes one voiced sound (a 150 Hz buzz), the agent stays silent."""
    from callradar.pipeline.replay import CallAudio

    rate = 8000
    t = np.arange(int(rate * seconds_of_speech)) / rate
    buzz = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)) * 0.25
    silence = np.zeros(int(rate * 0.6))
    customer = (np.concatenate([silence, buzz, silence, silence]) * 32767).astype(np.int16)
    return CallAudio(call_id, rate, np.zeros_like(customer), customer)


def _scrape(port: int) -> tuple[dict[str, list[dict]], str]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        content_type = resp.headers["Content-Type"]
        body = resp.read().decode()
    samples: dict[str, list[dict]] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples.setdefault(s.name, []).append({**s.labels, "__value__": s.value})
    return samples, content_type


def _get_json(port: int, path: str) -> tuple[int, dict]:
    """(status, JSON body) of a worker page; a 503 is an answer too, not an error."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _total(samples, name, **labels) -> float:
    return sum(s["__value__"] for s in samples.get(name, []) if all(s.get(k) == v for k, v in labels.items()))


@pytest.mark.integration
@pytest.mark.slow
def test_every_queried_metric_is_exported_by_a_running_worker(kafka_settings, tmp_path):
    from callradar.pipeline.kafka.clients import delete_topics, make_producer
    from callradar.pipeline.processes import WorkerProcess
    from callradar.pipeline.records import AudioChunk, Topics, Utterance
    from callradar.pipeline.replay import replay_calls

    # Topics (and so a consumer group) of its own: counts below are exact, whatever ran before.
    settings = dataclasses.replace(kafka_settings, topic_prefix=f"{kafka_settings.topic_prefix}metrics-")
    topics = Topics(settings.topic_prefix)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    producer = None
    try:
        worker.wait_ready(timeout_s=240)
        producer = make_producer(settings)

        def send(topic, key, value, headers=None):
            producer.send(topic, key=key.encode(), value=value, headers=headers or [])

        # Bad input for each stage: every one must come out as a labelled dead letter.
        bad = AudioChunk("metrics-bad", "customer", 0, 8000, time.time(), b"")
        send(topics.audio, "metrics-bad", b"\x00\x01\x02", bad.headers())
        send(topics.transcripts, "metrics-bad", b"{not json")
        send(topics.scores, "metrics-bad", b'{"v": 1, "type": "score"}')
        # A transcript that asks for a supervisor: scored, then alerted on.
        now = time.time()
        said = Utterance(utterance_id="metrics-1/customer/0", call_id="metrics-1", speaker="customer", index=0,
                         start=1.0, end=4.0, text="This is ridiculous, I want to speak to your supervisor right now "
                         "or I am cancelling my account.", confidence=0.9, audio_end_ts=now - 0.5, emitted_ts=now)
        send(topics.transcripts, "metrics-1", said.encode())
        # Real audio through the transcription stage, in real time.
        replay_calls([_tone_call("metrics-2")], lambda t, k, v, h: send(t, k, v, h), topics, speed=1.0)
        producer.flush()

        deadline = time.time() + 90
        while True:
            samples, content_type = _scrape(worker.port)
            done = {
                "transcript sent": _total(samples, "callradar_utterances_total") >= 1,
                "score sent": _total(samples, "callradar_latency_seconds_count", hop="utterance_to_score") >= 1,
                "alert sent": _total(samples, "callradar_alerts_total", alert_type="escalation_risk") >= 1,
                "speech to text timed": _total(samples, "callradar_stt_audio_seconds_total") > 0,
                # The utterance leaves on end of speech, before the end markers behind it are read: wait for them.
                "the call ended": _total(samples, "callradar_utterances_total") >= 1
                and _total(samples, "callradar_active_calls", stage="transcribe") == 0,
                "dead letters of all stages": all(_total(samples, "callradar_dead_letters_total", stage=s) >= 1
                                                  for s in ("transcribe", "score", "trigger")),
                "lag of every source topic": {s["topic"] for s in samples.get("callradar_consumer_lag", [])}
                >= {topics.audio, topics.transcripts, topics.scores},
            }
            if all(done.values()):
                break
            if time.time() > deadline:
                pytest.fail(f"not seen within 90 s: {[k for k, v in done.items() if not v]}\n{worker.log_tail(60)}")
            time.sleep(1.0)
        # The probes the manifests point at, on the same port, after traffic through every stage.
        health, readiness = _get_json(worker.port, "/healthz"), _get_json(worker.port, "/readyz")
    finally:
        if producer is not None:
            producer.close()
        worker.stop()
        delete_topics(settings, topics.all())

    assert content_type.startswith("text/plain")
    assert health == (200, {"status": "ok"})
    assert readiness == (200, {"ready": True})
    assert _total(samples, "callradar_dead_letters_total", stage="transcribe", reason="bad_pcm") == 1
    assert _total(samples, "callradar_dead_letters_total", stage="score", reason="bad_json") == 1
    assert _total(samples, "callradar_dead_letters_total", stage="trigger", reason="missing_field") == 1
    assert _total(samples, "callradar_active_calls", stage="transcribe") == 0  # the call ended
    assert _total(samples, "callradar_model_info", component="speech") == 1
    assert _total(samples, "callradar_model_info", component="score") == 1
    assert _total(samples, "process_resident_memory_bytes") > 50e6

    where, pinned = queried_metrics()
    recorded = {r["record"] for r in rule_docs() if "record" in r}
    missing = {name: sorted(src) for name, src in where.items()
               if name not in samples and name not in recorded and name not in PROMETHEUS_OWN_SERIES}
    assert not missing, f"queried but not exported by the worker: {missing}"
    unknown_values = sorted(
        (name, label, value) for name, label, value in pinned
        if name in samples and not any(s.get(label) == value for s in samples[name])
    )
    assert not unknown_values, f"queries pin label values the worker never exports: {unknown_values}"
