"""Deployment files: Dockerfile, wheel, docker-compose, Helm chart, kustomize. All offline; no cluster, no engine.

Every test here checks something that can break: a lint finding, a missing file, an invalid manifest, a value
the schema lets through, a selector that would change on upgrade, k8s/base/ out of step with the chart.
"""

import copy
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHART = ROOT / "helm" / "fleet"
ALERTS = CHART / "files" / "alerts.yml"
COMPOSE = ROOT / "docker-compose.yml"
OVERLAYS = ROOT / "k8s" / "overlays"

# API groups of custom resources: checked against their CRDs' required fields below, not by kubernetes-validate.
CRD_API_VERSIONS = ("traefik.io/v1alpha1", "monitoring.coreos.com/v1")

# Every switch on, for a cluster that serves the CRDs.
ALL_ON: dict[str, Any] = {
    "commonLabels": {"team": "platform"},
    "database": {"url": "postgresql://fleet:secret@db.example:5432/fleet"},
    "mqtt": {"ingestPassword": "ingest-pw", "publisherPassword": "publisher-pw", "adminPassword": "admin-pw"},
    "simulator": {"enabled": True},
    "mosquitto": {"enabled": True, "deviceService": {"enabled": True, "loadBalancerSourceRanges": ["100.64.0.0/10"]}},
    # The demo store (so the worker is deployed), reached by the units under a public name.
    "objectStorage": {
        "existingSecret": "fleet-s3",
        "publicEndpointUrl": "https://s3.fleet.example.com",
        "demo": {"enabled": True},
    },
    "ingressRoute": {"enabled": True, "host": "fleet.example.com", "tls": {"enabled": True, "certResolver": "le"}},
    "ingress": {"enabled": True, "host": "fleet.example.com", "tls": {"enabled": True, "secretName": "fleet-tls"}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True},
    "grafanaDashboards": {"enabled": True},
    "networkPolicy": {
        "apiFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "objectStorageFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}],
        "egress": {
            "enabled": True,
            "extraRules": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}],
        },
    },
    "api": {"autoscaling": {"enabled": False}, "replicas": 3},
}


def _load_render_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_k8s", ROOT / "scripts" / "render_k8s.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_k8s = _load_render_script()
KUBE_VERSION: str = render_k8s.KUBE_VERSION


def run(*args: str | Path, cwd: Path = ROOT, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; the test fails with its output when it exits non-zero."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result


def tool(name: str) -> str:
    """A tool of the venv (hadolint, kubectl, kubernetes-validate), else from PATH."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed (scripts/test.sh installs the test tools)"
    return found


# The one value every install must set (the chart refuses to render without object storage): the smallest values
# that render, which the tests call the defaults.
REQUIRED: dict[str, Any] = {"objectStorage": {"bucket": "fleet-files"}}


def with_required(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """`values` over REQUIRED, merged key by key."""

    def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in over.items():
            if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
                merged[key] = merge(base[key], value)
            else:
                merged[key] = value
        return merged

    return merge(REQUIRED, values or {})


def render(values: Mapping[str, Any] | None = None, api_versions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chart's objects for these values (over REQUIRED)."""
    return render_k8s.documents(render_k8s.render_chart(with_required(values), api_versions=api_versions))


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod template) of every workload."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]


def validate_builtin(objects: list[dict[str, Any]], tmp_path: Path, name: str) -> None:
    """`kubernetes-validate --strict` on every object of a built-in kind; each must be found and pass."""
    builtin = [o for o in objects if o["apiVersion"] not in CRD_API_VERSIONS]
    assert builtin
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(builtin, sort_keys=False))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    # A kind without a schema (a typo'd apiVersion) is only a WARN with exit status 0: count the passes instead.
    passed = [line for line in output.splitlines() if line.startswith("INFO") and " passed " in line]
    problems = [line for line in output.splitlines() if line not in passed]
    assert result.returncode == 0 and len(passed) == len(builtin), (
        f"{len(passed)} of {len(builtin)} objects passed:\n" + "\n".join(problems)
    )


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def all_on_objects() -> list[dict[str, Any]]:
    return render(ALL_ON, api_versions=CRD_API_VERSIONS)


# --- image --------------------------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    run(tool("hadolint"), "Dockerfile")


def test_dockerfile_is_multistage_pinned_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(bases) >= 2, "builder and runtime stages"
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base) for base in bases), bases
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), "the final USER must be numeric and not root"
    assert re.search(r'^ENTRYPOINT \["fleet"\]$', text, re.MULTILINE)
    assert re.search(r'^CMD \["--help"\]$', text, re.MULTILINE)


def test_docker_build_context_holds_every_package_and_nothing_else() -> None:
    """.dockerignore is an allow-list, and it and the Dockerfile's COPYs cover pyproject's packages."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignore = [line for line in ignore if line and not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore must exclude everything first"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(\S+) ", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    for package in packages:
        assert package in allowed, f"{package} is not in .dockerignore's allow-list"
        assert package in copied, f"the Dockerfile does not COPY {package}"


def test_wheel_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    """The wheel carries every package and data file: built from a copy of the tree, installed with its pinned
    dependencies into a fresh venv, `fleet --help` runs outside the repository."""
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in {pattern.rstrip("*") for pattern in include}:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("fleet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    required_files = ("cli/main.py", "fleet/db/alembic.ini", "ingest/service.py", "dispatcher/service.py")
    for required in (*required_files, "worker/service.py", "api/app.py"):
        assert required in names, f"{required} is missing from the wheel"
    assert any(n.startswith("fleet/db/migrations/versions/") and n.endswith(".py") for n in names)
    assert any(n.startswith("fleet/contract/schemas/v1/") and n.endswith(".json") for n in names)
    assert any(n.startswith("vehicle_sim/routes/") and n.endswith(".json") for n in names)

    # As the Dockerfile does it: the locked tree with hashes, then the wheel alone, then a consistency check.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    lock = ROOT / "requirements.lock"
    run(python, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", lock, cwd=tmp_path)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel, cwd=tmp_path)
    run(python, "-m", "pip", "check", cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = run(venv / "bin" / "fleet", "--help", cwd=tmp_path, env=env)
    for command in ("migrate", "ingest", "dispatcher", "worker", "api", "sim", "tenant", "vehicle", "up"):
        assert command in result.stdout
    # Imported from the venv, not from the working tree.
    where = run(python, "-c", "import cli, fleet; print(cli.__file__, fleet.__file__)", cwd=tmp_path, env=env)
    assert str(ROOT) not in where.stdout, where.stdout


def _pins(lines: list[str]) -> dict[str, str]:
    """name -> version of `name==version` requirement lines (names normalised, extras dropped)."""
    pins = {}
    for line in lines:
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?==([^ ;\\]+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def test_lock_file_pins_what_pyproject_pins() -> None:
    """requirements.lock (the image's dependency tree) is regenerated whenever pyproject.toml's pins change."""
    project = _pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    locked = _pins((ROOT / "requirements.lock").read_text().splitlines())
    assert project and project.items() <= locked.items(), {
        name: (version, locked.get(name)) for name, version in project.items() if locked.get(name) != version
    }


# --- docker-compose -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


# The broker passwords and the object store's secret key compose requires (no defaults): placeholders for the
# checks, never used anywhere.
COMPOSE_SECRETS = {
    "MQTT_ADMIN_PASSWORD": "placeholder-admin",
    "MQTT_INGEST_PASSWORD": "placeholder-ingest",
    "MQTT_PUBLISHER_PASSWORD": "placeholder-publisher",
    "S3_SECRET_ACCESS_KEY": "placeholder-s3-secret",
}


def compose_environment(**extra: str) -> dict[str, str]:
    """The caller's environment without any setting of the stack (so its defaults apply), plus `extra`."""
    prefixes = ("FLEET_", "POSTGRES_", "GRAFANA_", "TRAEFIK_", "MQTT_", "S3_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(prefixes)}, **extra}


def test_compose_config_is_valid() -> None:
    run(tool("docker-compose"), "-f", COMPOSE, "config", "-q", env=compose_environment(**COMPOSE_SECRETS))


def test_compose_has_no_default_broker_passwords() -> None:
    """Without the broker passwords or the object store's key compose refuses to start instead of running with a
    guessable one."""
    for missing in COMPOSE_SECRETS:
        given = {k: v for k, v in COMPOSE_SECRETS.items() if k != missing}
        result = subprocess.run(
            [tool("docker-compose"), "-f", str(COMPOSE), "config", "-q"],
            cwd=ROOT,
            env=compose_environment(**given),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0 and missing in result.stderr, (missing, result.stderr)


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository path of a service's ./ bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def test_compose_mounts_point_at_files_of_the_repository(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mosquitto = _bind_mounts(services["mosquitto"])
    assert mosquitto["/mosquitto/config/mosquitto.conf"] == CHART / "files" / "mosquitto.conf"
    prometheus = _bind_mounts(services["prometheus"])
    assert prometheus["/etc/prometheus/prometheus.yml"] == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    assert prometheus["/etc/prometheus/rules/alerts.yml"] == ALERTS
    grafana = _bind_mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == ROOT / "deploy" / "grafana" / "provisioning"
    assert grafana["/var/lib/grafana/dashboards"] == CHART / "files" / "dashboards"
    traefik = _bind_mounts(services["traefik"])
    named = (("mosquitto", mosquitto), ("prometheus", prometheus), ("grafana", grafana), ("traefik", traefik))
    for name, mounts in named:
        for target, source in mounts.items():
            assert source.exists(), f"{name} mounts {source.relative_to(ROOT)} at {target}, which does not exist"
    assert list(grafana["/var/lib/grafana/dashboards"].glob("*.json")), "no dashboard to provision"
    assert any(grafana["/etc/grafana/provisioning"].rglob("*.y*ml")), "no Grafana provisioning file"

    # The broker's persistence_location is a volume, so sessions and queues survive `docker-compose down`/`up`.
    conf = (CHART / "files" / "mosquitto.conf").read_text()
    location = re.search(r"^persistence_location\s+(\S+)", conf, re.MULTILINE)
    assert location
    targets = [v.split(":")[1].rstrip("/") for v in services["mosquitto"]["volumes"]]
    assert location.group(1).rstrip("/") in targets


def test_compose_runs_fleet_from_one_image_in_dependency_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    fleet = {name: s for name, s in services.items() if s.get("image") == "fleet:local"}
    assert set(fleet) >= {"migrate", "broker-certs", "broker-bootstrap", "register-demo-buses", "ingest-1", "ingest-2"}
    assert set(fleet) >= {"api", "sim", "dispatcher", "worker"}
    assert all(s.get("build") == "." for s in fleet.values()), "every fleet service builds ./Dockerfile"
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["traefik"]["image"].startswith("traefik:v3")
    traefik = _bind_mounts(services["traefik"])
    assert traefik["/etc/traefik/traefik.yml"] == ROOT / "deploy" / "traefik" / "traefik.yml"
    assert traefik["/etc/traefik/dynamic"] == ROOT / "deploy" / "traefik" / "dynamic"
    assert not any("docker.sock" in v for v in services["traefik"].get("volumes", [])), "file provider, no socket"
    static = yaml.safe_load(traefik["/etc/traefik/traefik.yml"].read_text())
    assert not static.get("api", {}).get("dashboard"), "the Traefik dashboard is off by default"

    ingest = [services["ingest-1"], services["ingest-2"]]
    assert len({s["environment"]["FLEET_INGEST_CLIENT_ID"] for s in ingest}) == 2, "distinct client ids"
    assert {s["environment"]["FLEET_INGEST_SHARE_GROUP"] for s in ingest} == {"ingest"}
    for name in ("ingest-1", "ingest-2", "dispatcher", "worker", "api"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert "healthcheck" in services[name], name

    # The dispatcher: as fleet-publisher (the only publisher), once the broker knows that identity and answers; healthy
    # when ready; its metrics reachable from Prometheus on the compose network.
    dispatcher = services["dispatcher"]
    assert dispatcher["command"] == ["dispatcher"]
    assert dispatcher["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert dispatcher["depends_on"]["broker-bootstrap"]["condition"] == "service_completed_successfully"
    env = dispatcher["environment"]
    assert env["FLEET_MQTT_URL"].startswith("mqtt://fleet-publisher:")
    assert env["FLEET_DATABASE_URL"] == services["api"]["environment"]["FLEET_DATABASE_URL"]
    assert env["FLEET_DISPATCHER_HTTP_HOST"] == "0.0.0.0"
    port = env.get("FLEET_DISPATCHER_HTTP_PORT", "9103")
    assert f"127.0.0.1:{port}/readyz" in " ".join(dispatcher["healthcheck"]["test"])
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    (job,) = [j for j in scrape if j["job_name"] == "fleet-dispatcher"]
    assert [t for c in job["static_configs"] for t in c["targets"]] == [f"dispatcher:{port}"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("postgres", "mosquitto", "prometheus", "grafana", "traefik", "s3"):
        assert "healthcheck" in services[name], name


def test_compose_runs_the_worker_against_the_object_store(compose: dict[str, Any]) -> None:
    """MinIO (pinned) with a health check, a one-shot bucket job, and the API and the worker on that bucket."""
    from fleet.settings import BlobSettings

    services = compose["services"]
    s3, bucket_job, worker, api = services["s3"], services["s3-bucket"], services["worker"], services["api"]
    assert re.fullmatch(r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", s3["image"]), s3["image"]
    assert re.fullmatch(r"minio/mc:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", bucket_job["image"])
    assert s3["healthcheck"]["test"][:2] == ["CMD", "mc"]
    assert any(v.startswith("s3-data:") for v in s3["volumes"]), "the objects survive `docker-compose down`"
    # Published on the host's loopback only; the units of the compose network use s3:9000.
    assert all(str(port).startswith("127.0.0.1:") for port in s3.get("ports", []))
    assert bucket_job["restart"] == "no"
    assert bucket_job["depends_on"]["s3"]["condition"] == "service_healthy"

    # The worker: no MQTT, health and metrics on 9104 for Prometheus, after the bucket exists.
    assert worker["command"] == ["worker"]
    assert worker["depends_on"]["s3-bucket"]["condition"] == "service_completed_successfully"
    env = worker["environment"]
    assert "FLEET_MQTT_URL" not in env and "FLEET_BROKER_ADMIN_URL" not in env
    assert env["FLEET_WORKER_HTTP_HOST"] == "0.0.0.0"
    port = env.get("FLEET_WORKER_HTTP_PORT", "9104")
    assert f"127.0.0.1:{port}/readyz" in " ".join(worker["healthcheck"]["test"])
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    (job,) = [j for j in scrape if j["job_name"] == "fleet-worker"]
    assert [t for c in job["static_configs"] for t in c["targets"]] == [f"worker:{port}"]

    # The API and the worker share one store, reached at the s3 service; the bucket job makes that bucket.
    s3_env = {k: v for k, v in env.items() if k.startswith("FLEET_S3_")}
    assert {k: v for k, v in api["environment"].items() if k.startswith("FLEET_S3_")} == s3_env
    assert s3_env["FLEET_S3_ENDPOINT_URL"] == "http://s3:9000"
    assert s3_env["FLEET_S3_PUBLIC_ENDPOINT_URL"] == "${FLEET_S3_PUBLIC_ENDPOINT_URL:-http://s3:9000}"
    assert f"fleet/{s3_env['FLEET_S3_BUCKET']}" in " ".join(bucket_job["command"])
    assert s3["environment"]["MINIO_ROOT_USER"] == s3_env["FLEET_S3_ACCESS_KEY_ID"]
    assert s3["environment"]["MINIO_ROOT_PASSWORD"] == s3_env["FLEET_S3_SECRET_ACCESS_KEY"]
    # What the services would read, with the variables' defaults and a placeholder key, passes BlobSettings.
    resolved = {k: re.sub(r"\$\{[A-Z0-9_]+:[-?]([^}]*)\}", r"\1", v) for k, v in s3_env.items()}
    resolved["FLEET_S3_SECRET_ACCESS_KEY"] = COMPOSE_SECRETS["S3_SECRET_ACCESS_KEY"]
    settings = BlobSettings(**{k.removeprefix("FLEET_").lower(): v for k, v in resolved.items()})
    assert settings.uses_s3 and settings.s3_public_endpoint_url == "http://s3:9000"


# --- Helm chart ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [REQUIRED, ALL_ON], ids=["defaults", "all-on"])
def test_chart_lints(values: dict[str, Any]) -> None:
    import helm_python

    report = helm_python.lint(CHART, with_required(values), strict=True, kube_version=f"v{KUBE_VERSION}")
    findings = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not findings, report


def test_default_render_is_valid(default_objects: list[dict[str, Any]], tmp_path: Path) -> None:
    kinds = {o["kind"] for o in default_objects}
    expected = {
        "StatefulSet",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "Job",
        "ConfigMap",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
    }
    assert kinds >= expected, expected - kinds
    assert not kinds & {"IngressRoute", "ServiceMonitor", "PrometheusRule", "Ingress", "Secret"}
    validate_builtin(default_objects, tmp_path, "defaults")


def test_all_on_render_is_valid(all_on_objects: list[dict[str, Any]], tmp_path: Path) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in all_on_objects}
    for expected in [
        ("IngressRoute", "fleet-api"),
        ("Ingress", "fleet-api"),
        ("ServiceMonitor", "fleet-api"),
        ("ServiceMonitor", "fleet-ingest"),
        ("ServiceMonitor", "fleet-dispatcher"),
        ("ServiceMonitor", "fleet-worker"),
        ("PrometheusRule", "fleet"),
        ("Deployment", "fleet-worker"),
        ("StatefulSet", "fleet-s3"),
        ("Job", "fleet-s3-bucket"),
        ("ConfigMap", "fleet-object-storage"),
        ("Deployment", "fleet-simulator"),
        ("StatefulSet", "fleet-mosquitto"),
        ("Secret", "fleet-database"),
        ("Secret", "fleet-mqtt"),
        ("Service", "fleet-mosquitto-devices"),
        ("ConfigMap", "fleet-dashboards"),
    ]:
        assert expected in names, expected
    validate_builtin(all_on_objects, tmp_path, "all-on")


def test_crd_objects_need_their_apis() -> None:
    """Without the CRDs' API versions, the switched-on IngressRoute, ServiceMonitor and PrometheusRule are left out."""
    kinds = {o["kind"] for o in render(ALL_ON)}
    assert not kinds & {"IngressRoute", "ServiceMonitor", "PrometheusRule"}
    assert "Ingress" in kinds


# Fields the CRDs (traefik.io IngressRoute, monitoring.coreos.com ServiceMonitor and PrometheusRule) require.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "IngressRoute": {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["routes"],
                "properties": {
                    "entryPoints": {"type": "array", "items": {"type": "string"}},
                    "routes": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["match"],
                            "properties": {
                                "kind": {"enum": ["Rule"]},
                                "match": {"type": "string", "minLength": 1},
                                "services": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["name"],
                                        "properties": {
                                            "name": {"type": "string"},
                                            "port": {"type": ["integer", "string"]},
                                        },
                                    },
                                },
                            },
                        },
                    },
                    "tls": {"type": "object"},
                },
            }
        },
    },
    "ServiceMonitor": {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {"type": "object", "minProperties": 1},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                            },
                        },
                    },
                },
            }
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["groups"],
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                        "properties": {
                                            "expr": {"type": ["string", "integer"]},
                                            "for": {"type": "string"},
                                            "labels": {"type": "object"},
                                            "annotations": {"type": "object"},
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        },
    },
}


def test_crd_objects_have_required_fields_and_point_at_rendered_services(
    all_on_objects: list[dict[str, Any]],
) -> None:
    services = by_kind(all_on_objects, "Service")
    crd_objects = [o for o in all_on_objects if o["apiVersion"] in CRD_API_VERSIONS]
    assert {o["kind"] for o in crd_objects} == set(CRD_SCHEMAS)
    for obj in crd_objects:
        jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])

    for route in by_kind(all_on_objects, "IngressRoute").values():
        for rule in route["spec"]["routes"]:
            assert "/metrics" not in rule["match"] and "PathPrefix(`/`)" not in rule["match"], "metrics stay internal"
            for target in rule["services"]:
                ports = {p["name"] for p in services[target["name"]]["spec"]["ports"]}
                assert target["port"] in ports, f"IngressRoute -> {target['name']}:{target['port']}"

    jobs = set()
    for monitor in by_kind(all_on_objects, "ServiceMonitor").values():
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, f"ServiceMonitor {monitor['metadata']['name']} selects {len(matched)} Services"
        ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports
            jobs |= {r["replacement"] for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"}
    # The alert rules select on these job names.
    assert jobs == {"fleet-api", "fleet-ingest", "fleet-dispatcher", "fleet-worker"}


def test_prometheus_rule_carries_the_alerts_file(all_on_objects: list[dict[str, Any]]) -> None:
    (rule,) = by_kind(all_on_objects, "PrometheusRule").values()
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert groups
    assert rule["spec"]["groups"] == groups


def test_values_schema_rejects_typos() -> None:
    import helm_python

    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(chart.values)  # the defaults pass
    typos: list[tuple[dict[str, Any], str]] = [
        ({"ingest": {"replicsa": 3}}, "replicsa"),
        ({"serviceMonitr": {"enabled": True}}, "serviceMonitr"),
        ({"api": {"autoscaling": {"enable": True}}}, "enable"),
        ({"dispatcher": {"batchSise": 50}}, "batchSise"),
        ({"worker": {"pollInterval": 1}}, "pollInterval"),
        ({"objectStorage": {"endpoint": "http://minio:9000"}}, "endpoint"),
        ({"objectStorage": {"demo": {"enable": True}}}, "enable"),
    ]
    for typo, key in typos:
        with pytest.raises(helm_python.HelmValuesError, match=key):
            render(typo)
    with pytest.raises(helm_python.HelmValuesError):
        render({"ingest": {"replicas": "two"}})
    with pytest.raises(helm_python.HelmValuesError):
        render({"config": {"env": {"NOT_FLEET": "1"}}})
    # The dispatcher's settings are refused at install time, with the bounds of DispatcherSettings, not by a pod
    # that crash-loops.
    out_of_bounds: list[dict[str, Any]] = [
        {"batchSize": 0},
        {"batchSize": 10001},
        {"pollIntervalSeconds": 0},
        {"ackTimeoutSeconds": 21},
    ]
    for bad in out_of_bounds:
        with pytest.raises(helm_python.HelmValuesError):
            render({"dispatcher": bad})
    # The API's overload settings too (ApiSettings).
    for bad in [{"workers": 0}, {"workers": 33}, {"maxConcurrentRequests": 41}, {"dbPoolTimeoutSeconds": 0}]:
        with pytest.raises(helm_python.HelmValuesError):
            render({"api": bad})
    # The worker's too (WorkerSettings), and the object store's as BlobSettings checks them.
    for bad in [{"batchSize": 0}, {"batchSize": 1001}, {"pollIntervalSeconds": 0.01}, {"lifecycleIntervalSeconds": 0}]:
        with pytest.raises(helm_python.HelmValuesError):
            render({"worker": bad})
    bad_storage: list[dict[str, Any]] = [
        {"bucket": "Fleet_Files"},  # S3 bucket naming
        {"bucket": "ab"},
        {"bucket": "fleet-files", "endpointUrl": "minio:9000"},  # no scheme
        {"bucket": "fleet-files", "publicEndpointUrl": "ftp://s3.example.com"},
        {"bucket": "fleet-files", "region": "EU Central"},
        {"bucket": "fleet-files", "sse": "aes256"},
        {"bucket": "fleet-files", "kmsKeyId": "alias/fleet"},  # a KMS key without aws:kms
        {"bucket": "fleet-files", "existingSecret": "Fleet S3"},
    ]
    for bad in bad_storage:
        with pytest.raises(helm_python.HelmValuesError):
            render({"objectStorage": bad})


def test_every_value_is_documented() -> None:
    """Each key of values.yaml has a comment line above it, unless an ancestor is documented as a whole (`# --`)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    stack: list[tuple[int, bool]] = []  # (indent, covered by a `# --` comment)
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z_][\w.-]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        covered = any(c for _, c in stack)
        above = lines[number - 1].strip() if number else ""
        if not covered and not above.startswith("#"):
            undocumented.append(f"line {number + 1}: {line.strip()}")
        stack.append((indent, covered or above.startswith("# --")))
    assert not undocumented, undocumented


def _selectors(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    selectors = {}
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            selectors[f"{kind}/{name}"] = obj["spec"]["selector"]["matchLabels"]
        elif kind == "Service":
            selectors[f"{kind}/{name}"] = obj["spec"]["selector"]
    return selectors


def test_selector_labels_never_change(all_on_objects: list[dict[str, Any]], tmp_path: Path) -> None:
    """No version in selectors; a new chart version, app version, image and labels leave every selector as it was."""
    selectors = _selectors(all_on_objects)
    assert any(k.startswith("StatefulSet/") for k in selectors) and any(k.startswith("Deployment/") for k in selectors)
    for name, selector in selectors.items():
        assert not {"app.kubernetes.io/version", "helm.sh/chart", "team"} & selector.keys(), name

    for kind_name, template in pod_specs(all_on_objects):
        kind, name = kind_name.split("/")
        if kind != "Job":
            assert selectors[kind_name].items() <= template["metadata"]["labels"].items(), kind_name

    upgraded = tmp_path / "fleet"
    shutil.copytree(CHART, upgraded)
    chart_yaml = yaml.safe_load((upgraded / "Chart.yaml").read_text())
    chart_yaml.update(version="9.9.9", appVersion="9.9.9")
    (upgraded / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml))
    values = copy.deepcopy(ALL_ON)
    values["commonLabels"] = {"team": "other", "cost-center": "42"}
    values["image"] = {"tag": "1.2.3"}
    after = render_k8s.documents(render_k8s.render_chart(values, api_versions=CRD_API_VERSIONS, chart_dir=upgraded))
    assert _selectors(after) == selectors


def test_pods_are_locked_down_and_probed(all_on_objects: list[dict[str, Any]]) -> None:
    for name, template in pod_specs(all_on_objects):
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0], name
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            assert any(m["mountPath"] == "/tmp" and m["name"] == "tmp" for m in container["volumeMounts"]), name
        if not name.startswith("Job/"):
            assert "checksum/config" in template["metadata"].get("annotations", {}), name

    workloads = {**by_kind(all_on_objects, "Deployment"), **by_kind(all_on_objects, "StatefulSet")}
    for name in ("fleet-api", "fleet-ingest", "fleet-dispatcher", "fleet-worker"):
        (container,) = workloads[name]["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        env = {e["name"]: e for e in container["env"]}
        assert env["FLEET_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "fleet-database", name


def test_ingest_is_a_statefulset_with_stable_client_ids(all_on_objects: list[dict[str, Any]]) -> None:
    ingest = by_kind(all_on_objects, "StatefulSet")["fleet-ingest"]
    headless = by_kind(all_on_objects, "Service")[ingest["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    pod = ingest["spec"]["template"]["spec"]
    assert 25 <= pod["terminationGracePeriodSeconds"] <= 120
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["FLEET_INGEST_CLIENT_ID"]["value"].endswith("$(POD_NAME)")
    assert env["FLEET_INGEST_SHARE_GROUP"]["value"] == "ingest"
    assert env["FLEET_INGEST_HTTP_HOST"]["value"] == "0.0.0.0"


def test_dispatcher_is_a_deployment_with_its_settings_scraped_and_fenced(
    all_on_objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet.settings import DispatcherSettings

    dispatcher = by_kind(all_on_objects, "Deployment")["fleet-dispatcher"]
    assert dispatcher["spec"]["replicas"] == 1
    # Old and new pods side by side during a rollout are safe (SKIP LOCKED); a gap in the downlink is not needed.
    assert dispatcher["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dispatcher["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["dispatcher"]
    assert container["envFrom"] == [{"configMapRef": {"name": "fleet-config"}}]
    env = {e["name"]: e for e in container["env"]}
    assert env["FLEET_DISPATCHER_HTTP_HOST"]["value"] == "0.0.0.0"
    port = int(env["FLEET_DISPATCHER_HTTP_PORT"]["value"])
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert port == 9103

    # Every FLEET_DISPATCHER_* variable is a setting (the settings ignore unknown ones), within its bounds.
    literal = {name: e["value"] for name, e in env.items() if name.startswith("FLEET_DISPATCHER_")}
    fields = {f"FLEET_DISPATCHER_{name.upper()}" for name in DispatcherSettings.model_fields}
    assert set(literal) <= fields, set(literal) - fields
    for name, value in literal.items():
        monkeypatch.setenv(name, value)
    settings = DispatcherSettings()
    assert (settings.batch_size, settings.poll_interval_seconds, settings.ack_timeout_seconds) == (100, 1.0, 10.0)
    # SIGTERM waits for the pass under way, bounded by the ack timeout: the grace period covers it.
    assert pod["terminationGracePeriodSeconds"] > settings.ack_timeout_seconds

    # Scraped like ingest: a headless Service that keeps unready pods (broker or database lost) as targets.
    service = by_kind(all_on_objects, "Service")["fleet-dispatcher"]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"].items() <= dispatcher["spec"]["template"]["metadata"]["labels"].items()
    assert by_kind(all_on_objects, "PodDisruptionBudget")["fleet-dispatcher"]["spec"]["maxUnavailable"] == 1

    # It serves only its metrics port, to the metrics source; with egress restricted it reaches DNS, the broker's
    # plain port and the extra rules (PostgreSQL), nothing else.
    policy = by_kind(all_on_objects, "NetworkPolicy")["fleet-dispatcher"]["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == ALL_ON["networkPolicy"]["metricsFrom"]
    broker = {"app.kubernetes.io/name": "fleet", "app.kubernetes.io/instance": "fleet"}
    broker["app.kubernetes.io/component"] = "mosquitto"
    assert {"to": [{"podSelector": {"matchLabels": broker}}], "ports": [{"port": 1883, "protocol": "TCP"}]} in (
        policy["egress"]
    )
    for rule in ALL_ON["networkPolicy"]["egress"]["extraRules"]:
        assert rule in policy["egress"]


def test_dispatcher_can_be_left_out_and_keeps_its_grace_period() -> None:
    import helm_python

    off = render({**ALL_ON, "dispatcher": {"enabled": False}}, api_versions=CRD_API_VERSIONS)
    assert not [o for o in off if o["metadata"]["name"] == "fleet-dispatcher"]
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds"):
        render({"dispatcher": {"ackTimeoutSeconds": 20, "terminationGracePeriodSeconds": 20}})


def _env(container: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """A container's literal environment as the kubelet builds it: its ConfigMaps (envFrom), then its `env` values;
    a variable from a Secret appears as `secret:<name>/<key>`."""
    config_maps = by_kind(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return env


def _container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (container,) = by_kind(objects, kind)[name]["spec"]["template"]["spec"]["containers"]
    return container


def test_worker_is_a_deployment_with_its_settings_scraped_and_fenced(
    all_on_objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet.settings import BlobSettings, WorkerSettings

    worker = by_kind(all_on_objects, "Deployment")["fleet-worker"]
    assert worker["spec"]["replicas"] == 1
    # Old and new pods side by side during a rollout are safe (SKIP LOCKED).
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = worker["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["worker"]
    env = _env(container, all_on_objects)
    # No MQTT: the worker talks to the units only through the outbox.
    assert not {"FLEET_MQTT_URL", "FLEET_BROKER_ADMIN_URL", "MQTT_PASSWORD"} & env.keys()
    assert not any(m["name"] == "mqtt-ca" for m in container["volumeMounts"])
    assert env["FLEET_WORKER_HTTP_HOST"] == "0.0.0.0"
    port = int(env["FLEET_WORKER_HTTP_PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert port == 9104

    # Every FLEET_WORKER_* and FLEET_S3_* variable is a setting (the settings ignore unknown ones), and together
    # they pass WorkerSettings and BlobSettings (a placeholder for the Secret's values).
    worker_vars = {name: value for name, value in env.items() if name.startswith("FLEET_WORKER_")}
    assert set(worker_vars) <= {f"FLEET_WORKER_{name.upper()}" for name in WorkerSettings.model_fields}
    s3_vars = {name: value for name, value in env.items() if name.startswith("FLEET_S3_")}
    assert set(s3_vars) <= {f"FLEET_{name.upper()}" for name in BlobSettings.model_fields}
    for name, value in {**worker_vars, **s3_vars}.items():
        monkeypatch.setenv(name, "placeholder-key-value" if value.startswith("secret:") else value)
    settings = WorkerSettings()
    assert (settings.batch_size, settings.poll_interval_seconds, settings.lifecycle_interval_seconds) == (50, 1.0, 3600)
    blobs = BlobSettings()
    assert blobs.uses_s3 and blobs.s3_endpoint_url == "http://fleet-s3:9000"
    assert blobs.s3_public_endpoint_url == "https://s3.fleet.example.com"
    assert s3_vars["FLEET_S3_SECRET_ACCESS_KEY"] == "secret:fleet-s3/secret-access-key"
    # The API reads the same store with the same key.
    api_env = _env(_container(all_on_objects, "Deployment", "fleet-api"), all_on_objects)
    assert {k: v for k, v in api_env.items() if k.startswith("FLEET_S3_")} == s3_vars
    # Ingest and the dispatcher have no business with the store.
    for kind, name in (("StatefulSet", "fleet-ingest"), ("Deployment", "fleet-dispatcher")):
        assert not any(k.startswith("FLEET_S3_") for k in _env(_container(all_on_objects, kind, name), all_on_objects))
    assert pod["terminationGracePeriodSeconds"] >= 30

    # Scraped like the dispatcher: a headless Service that keeps unready pods (database lost) as targets.
    service = by_kind(all_on_objects, "Service")["fleet-worker"]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"].items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    assert by_kind(all_on_objects, "PodDisruptionBudget")["fleet-worker"]["spec"]["maxUnavailable"] == 1

    # It serves only its metrics port, to the metrics source; with egress restricted it reaches DNS, the object
    # store and the extra rules (PostgreSQL), and not the broker.
    policy = by_kind(all_on_objects, "NetworkPolicy")["fleet-worker"]["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == ALL_ON["networkPolicy"]["metricsFrom"]
    release = {"app.kubernetes.io/name": "fleet", "app.kubernetes.io/instance": "fleet"}
    store = {"to": [{"podSelector": {"matchLabels": {**release, "app.kubernetes.io/component": "s3"}}}]}
    store["ports"] = [{"port": 9000, "protocol": "TCP"}]
    assert store in policy["egress"]
    assert store in by_kind(all_on_objects, "NetworkPolicy")["fleet-api"]["spec"]["egress"]
    assert store not in by_kind(all_on_objects, "NetworkPolicy")["fleet-ingest"]["spec"]["egress"]
    for rule in ALL_ON["networkPolicy"]["egress"]["extraRules"]:
        assert rule in policy["egress"]
    assert not [r for r in policy["egress"] if "mosquitto" in str(r)], "the worker never reaches the broker"


def test_api_runs_its_workers_with_a_core_each_and_bounded_waits(
    default_objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet.settings import ApiSettings

    container = _container(default_objects, "Deployment", "fleet-api")
    api_vars = {k: v for k, v in _env(container, default_objects).items() if k.startswith("FLEET_API_")}
    assert set(api_vars) <= {f"FLEET_API_{name.upper()}" for name in ApiSettings.model_fields}
    for name, value in api_vars.items():
        monkeypatch.setenv(name, value)
    settings = ApiSettings()
    assert (settings.workers, settings.max_concurrent_requests) == (2, 8)
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_seconds) == (10, 0, 1.0)
    assert settings.statement_timeout_seconds == 5.0
    # One process uses at most a core: the limit gives each worker one.
    assert float(container["resources"]["limits"]["cpu"]) >= settings.workers


def test_object_storage_is_required_and_checked() -> None:
    """Without object storage the API would fall back to a folder of its own pod, which production refuses: the chart
    fails instead, as it does for what BlobSettings would refuse in a crash-looping pod."""
    import helm_python

    with pytest.raises(helm_python.HelmRenderError, match=r"set objectStorage\.bucket"):
        render_k8s.render_chart({})
    # A bucket is enough: the worker is deployed, its ConfigMap rolls with the settings.
    rendered = render_k8s.render_chart(REQUIRED)
    objects = render_k8s.documents(rendered)
    worker = by_kind(objects, "Deployment")["fleet-worker"]
    assert "checksum/config" in worker["spec"]["template"]["metadata"]["annotations"]
    assert 'bucket "fleet-files" at AWS S3 (us-east-1)' in rendered["fleet/templates/NOTES.txt"]
    # worker.enabled=false leaves it out (one runs elsewhere).
    off = render({**ALL_ON, "worker": {"enabled": False}}, api_versions=CRD_API_VERSIONS)
    assert not [o for o in off if o["metadata"]["name"] == "fleet-worker"]
    assert "fleet-s3" in by_kind(off, "StatefulSet"), "the API still needs the store"
    refused = [
        ({"demo": {"enabled": True}}, "existingSecret"),
        ({"demo": {"enabled": True}, "existingSecret": "fleet-s3", "sse": "AES256"}, "no KMS"),
        ({"bucket": "fleet-files", "publicEndpointUrl": "https://s3.example.com"}, "publicEndpointUrl needs"),
    ]
    for values, message in refused:
        with pytest.raises(helm_python.HelmRenderError, match=message):
            render({"objectStorage": values})


def test_object_storage_on_aws_with_an_iam_role_or_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleet.settings import BlobSettings

    rules = [{"to": [{"ipBlock": {"cidr": "52.219.0.0/16"}}], "ports": [{"port": 443, "protocol": "TCP"}]}]
    irsa = {
        "objectStorage": {
            "bucket": "acme-fleet-files",
            "region": "eu-central-1",
            "sse": "aws:kms",
            "kmsKeyId": "alias/fleet-files",
        },
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/fleet"}},
        "networkPolicy": {"egress": {"enabled": True, "objectStorageRules": rules}},
    }
    objects = render(irsa)
    assert (
        by_kind(objects, "ServiceAccount")["fleet"]["metadata"]["annotations"] == irsa["serviceAccount"]["annotations"]
    )
    for name in ("fleet-api", "fleet-worker"):
        env = _env(_container(objects, "Deployment", name), objects)
        s3_vars = {k: v for k, v in env.items() if k.startswith("FLEET_S3_")}
        # No key and no endpoint: AWS S3 with boto3's default chain (the role of the ServiceAccount).
        assert s3_vars == {
            "FLEET_S3_BUCKET": "acme-fleet-files",
            "FLEET_S3_REGION": "eu-central-1",
            "FLEET_S3_SSE": "aws:kms",
            "FLEET_S3_SSE_KMS_KEY_ID": "alias/fleet-files",
        }, name
        for key, value in s3_vars.items():
            monkeypatch.setenv(key, value)
        assert BlobSettings().s3_sse == "aws:kms"
        egress = by_kind(objects, "NetworkPolicy")[name]["spec"]["egress"]
        assert all(rule in egress for rule in rules), name
    for name in ("fleet-ingest", "fleet-dispatcher", "fleet-migrate"):
        assert not [r for r in by_kind(objects, "NetworkPolicy")[name]["spec"]["egress"] if r in rules], name
    assert "StatefulSet" not in {o["kind"] for o in objects if o["metadata"]["name"] == "fleet-s3"}

    # An S3-compatible store with a key from your Secret, under your own key names.
    keyed = {
        "objectStorage": {
            "bucket": "fleet-files",
            "endpointUrl": "https://s3.storage.internal:9443",
            "existingSecret": "storage-key",
            "secretKeys": {"accessKeyId": "id", "secretAccessKey": "secret"},
        }
    }
    objects = render(keyed)
    env = _env(_container(objects, "Deployment", "fleet-worker"), objects)
    assert env["FLEET_S3_ENDPOINT_URL"] == "https://s3.storage.internal:9443"
    assert env["FLEET_S3_ACCESS_KEY_ID"] == "secret:storage-key/id"
    assert env["FLEET_S3_SECRET_ACCESS_KEY"] == "secret:storage-key/secret"


def test_demo_store_is_one_pinned_minio_with_a_volume_and_a_bucket_hook(all_on_objects: list[dict[str, Any]]) -> None:
    store = by_kind(all_on_objects, "StatefulSet")["fleet-s3"]
    assert store["spec"]["replicas"] == 1
    (claim,) = store["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    (container,) = store["spec"]["template"]["spec"]["containers"]
    pinned = r"minio/(minio|mc):RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"
    assert re.fullmatch(pinned, container["image"]), container["image"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    env = _env(container, all_on_objects)
    assert env["MINIO_ROOT_USER"] == "secret:fleet-s3/access-key-id"
    assert env["MINIO_ROOT_PASSWORD"] == "secret:fleet-s3/secret-access-key"
    assert env["MINIO_BROWSER"] == "off"
    # The services' endpoint is the store's Service, on the port the container listens on.
    service = by_kind(all_on_objects, "Service")["fleet-s3"]
    assert service["spec"]["selector"].items() <= store["spec"]["template"]["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "s3" and container["ports"][0]["name"] == "s3"
    storage = by_kind(all_on_objects, "ConfigMap")["fleet-object-storage"]["data"]
    assert storage["FLEET_S3_ENDPOINT_URL"] == f"http://fleet-s3:{port['port']}"
    assert storage["FLEET_S3_BUCKET"] == "fleet-files"

    # The bucket: a hook after install and upgrade, on the same endpoint, bucket and key.
    job = by_kind(all_on_objects, "Job")["fleet-s3-bucket"]
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    (client,) = job["spec"]["template"]["spec"]["containers"]
    assert re.fullmatch(pinned, client["image"]), client["image"]
    client_env = _env(client, all_on_objects)
    assert client_env["S3_ENDPOINT_URL"] == storage["FLEET_S3_ENDPOINT_URL"]
    assert client_env["S3_BUCKET"] == storage["FLEET_S3_BUCKET"]
    assert client_env["S3_ACCESS_KEY_ID"] == env["MINIO_ROOT_USER"]
    assert "mb --ignore-existing" in " ".join(client["args"])

    # The store admits the release's own pods and objectStorageFrom (the units' way in), on its S3 port only.
    policy = by_kind(all_on_objects, "NetworkPolicy")["fleet-s3"]["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "s3", "protocol": "TCP"}]
    own = {"app.kubernetes.io/name": "fleet", "app.kubernetes.io/instance": "fleet"}
    assert ingress["from"] == [{"podSelector": {"matchLabels": own}}, *ALL_ON["networkPolicy"]["objectStorageFrom"]]


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(all_on_objects: list[dict[str, Any]]) -> None:
    job = by_kind(all_on_objects, "Job")["fleet-migrate"]
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"pre-install", "pre-upgrade"}
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    # The Secret the Job reads must exist before it: a hook of lower weight.
    secret = by_kind(all_on_objects, "Secret")["fleet-database"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )


def test_mosquitto_config_map_is_the_shared_file(all_on_objects: list[dict[str, Any]]) -> None:
    config = by_kind(all_on_objects, "ConfigMap")["fleet-mosquitto-config"]
    shipped = (CHART / "files" / "mosquitto.conf").read_text()
    assert config["data"]["mosquitto.conf"].strip() == shipped.strip()


# --- kustomize ----------------------------------------------------------------------------------------------------


def test_k8s_base_is_generated_from_the_chart() -> None:
    problems = render_k8s.drift(render_k8s.build_base(render_k8s.load_values()))
    assert not problems, f"{problems}; run: .venv/bin/python scripts/render_k8s.py"


@pytest.mark.parametrize("overlay", sorted(p.name for p in OVERLAYS.iterdir() if p.is_dir()))
def test_overlay_builds_and_validates(overlay: str, tmp_path: Path) -> None:
    kustomization = yaml.safe_load((OVERLAYS / overlay / "kustomization.yaml").read_text())
    assert "commonLabels" not in kustomization and kustomization.get("labels"), "use `labels:`, not commonLabels"
    assert all(not entry.get("includeSelectors") for entry in kustomization["labels"])
    built = run(tool("kubectl"), "kustomize", OVERLAYS / overlay).stdout
    objects = [doc for doc in yaml.safe_load_all(built) if doc]
    assert {"StatefulSet", "Deployment", "Job", "Service"} <= {o["kind"] for o in objects}
    assert all(o["metadata"].get("namespace") for o in objects), "every object lands in the overlay's namespace"
    validate_builtin(objects, tmp_path, overlay)
    # The overlay's labels stay out of the selectors the chart defines.
    base = _selectors(render(render_k8s.load_values()))
    for name, selector in _selectors(objects).items():
        if name in base:
            assert selector == base[name], name


def test_overlays_give_the_api_and_the_worker_their_object_store() -> None:
    """The base reads the bucket settings from fleet-object-storage and the key from fleet-s3: dev provides both
    (and a MinIO with that bucket), prod names its bucket and leaves the key to a Secret made out of band."""
    built = {
        overlay: [
            doc for doc in yaml.safe_load_all(run(tool("kubectl"), "kustomize", OVERLAYS / overlay).stdout) if doc
        ]
        for overlay in ("dev", "prod")
    }
    for overlay, objects in built.items():
        config_maps = by_kind(objects, "ConfigMap")
        for name in ("fleet-api", "fleet-worker"):
            container = _container(objects, "Deployment", name)
            sources = [s["configMapRef"]["name"] for s in container["envFrom"]]
            assert any(s.startswith("fleet-object-storage-") for s in sources), (overlay, name, sources)
            env = _env(container, objects)
            assert env["FLEET_S3_BUCKET"], (overlay, name)
            keys = {env["FLEET_S3_ACCESS_KEY_ID"], env["FLEET_S3_SECRET_ACCESS_KEY"]}
            secret = (
                "fleet-s3"
                if overlay == "prod"
                else next(n for n in by_kind(objects, "Secret") if n.startswith("fleet-s3-"))
            )
            assert keys == {f"secret:{secret}/access-key-id", f"secret:{secret}/secret-access-key"}, (overlay, keys)
        if overlay == "dev":
            assert env["FLEET_S3_ENDPOINT_URL"] == "http://minio:9000"
            assert "minio" in by_kind(objects, "StatefulSet") and "minio" in by_kind(objects, "Service")
            job = by_kind(objects, "Job")["minio-bucket"]["spec"]["template"]["spec"]["containers"][0]
            bucket_ref = {e["name"]: e for e in job["env"]}["S3_BUCKET"]["valueFrom"]["configMapKeyRef"]
            assert config_maps[bucket_ref["name"]]["data"][bucket_ref["key"]] == env["FLEET_S3_BUCKET"]
        else:
            assert "FLEET_S3_ENDPOINT_URL" not in env and env["FLEET_S3_BUCKET"] != "fleet-files"
            assert not [n for n in by_kind(objects, "Secret") if n.startswith("fleet-s3")], "never in git"
            assert by_kind(objects, "Deployment")["fleet-worker"]["spec"]["replicas"] == 2


def test_ingress_route_tls_without_a_secret_uses_traefiks_default_certificate() -> None:
    values = {"ingressRoute": {"enabled": True, "tls": {"enabled": True}}}
    (route,) = by_kind(render(values, api_versions=CRD_API_VERSIONS), "IngressRoute").values()
    assert route["spec"]["tls"] == {}
    values["ingressRoute"]["tls"] = {"enabled": False}
    (route,) = by_kind(render(values, api_versions=CRD_API_VERSIONS), "IngressRoute").values()
    assert "tls" not in route["spec"]


def test_restricting_broker_sources_keeps_the_releases_own_pods() -> None:
    devices = [{"ipBlock": {"cidr": "100.64.0.0/10"}}]
    objects = render({**ALL_ON, "networkPolicy": {**ALL_ON["networkPolicy"], "mosquittoFrom": devices}})
    policy = by_kind(objects, "NetworkPolicy")["fleet-mosquitto"]
    rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    own = {"app.kubernetes.io/name": "fleet", "app.kubernetes.io/instance": "fleet"}
    assert rules["mqtts"]["from"] == [{"podSelector": {"matchLabels": own}}, *devices]
    # The plain port never admits the devices' sources.
    assert rules["mqtt"]["from"] == [{"podSelector": {"matchLabels": own}}]
    for name in ("fleet-ingest", "fleet-dispatcher", "fleet-api"):
        template = {**by_kind(objects, "StatefulSet"), **by_kind(objects, "Deployment")}[name]["spec"]["template"]
        assert own.items() <= template["metadata"]["labels"].items(), name


def test_restricting_the_api_port_demands_a_metrics_source_too() -> None:
    import helm_python

    only_api = {"networkPolicy": {"apiFrom": [{"namespaceSelector": {"matchLabels": {"name": "traefik"}}}]}}
    with pytest.raises(helm_python.HelmRenderError, match="metricsFrom"):
        render(only_api)
