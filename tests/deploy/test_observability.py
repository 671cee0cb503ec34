"""The observability configuration is valid and refers only to what the services really export.

- promtool accepts the alert rules, their unit tests (tests/deploy/alerts_test.yml) and the compose Prometheus config;
- every metric named in an alert rule or a dashboard query appears in the real /metrics exposition of ingest, the
  dispatcher, the worker or the API;
- every alert carries a severity, a summary, a description and a runbook anchor that docs/operations.md defines;
- the Grafana dashboards are valid JSON, every panel has a query, panel ids are unique, queries parse as PromQL;
- the job names the rules and dashboards select are the ones prometheus.yml scrapes.
"""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "helm" / "fleet" / "files" / "alerts.yml"
ALERT_TESTS = REPO / "tests" / "deploy" / "alerts_test.yml"
DASHBOARDS = REPO / "helm" / "fleet" / "files" / "dashboards"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = REPO / "deploy" / "grafana" / "provisioning"
TRAEFIK = REPO / "deploy" / "traefik"
OPERATIONS_DOC = REPO / "docs" / "operations.md"

# Series Prometheus makes itself rather than scraping them.
SYNTHETIC_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"})
PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
    | {"inf", "nan", "atan2"}
)
# Grafana's interval variables, replaced by a plain duration when a dashboard query is handed to promtool.
GRAFANA_INTERVALS = re.compile(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}")
# Names a family of each type puts on the wire (text format 0.0.4 and OpenMetrics).
SUFFIXES_BY_TYPE = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}

INGEST_EXPOSITION = """
import sys
import ingest.service  # everything the ingest process imports, so every metric it registers
from prometheus_client import generate_latest
sys.stdout.write(generate_latest().decode())
"""

DISPATCHER_EXPOSITION = """
import sys
import dispatcher.service  # everything the dispatcher process imports, so every metric it registers
from prometheus_client import generate_latest
sys.stdout.write(generate_latest().decode())
"""

WORKER_EXPOSITION = """
import sys
import worker.service  # everything the worker process imports, so every metric it registers
from prometheus_client import generate_latest
sys.stdout.write(generate_latest().decode())
"""

API_EXPOSITION = """
import sys
from fastapi.testclient import TestClient
from api.app import create_app
from fleet.settings import ApiSettings, SharedSettings
with TestClient(create_app(SharedSettings(database_url=sys.argv[1]), ApiSettings())) as client:
    response = client.get("/metrics")
    response.raise_for_status()
    sys.stdout.write(response.text)
"""


# --- PromQL --------------------------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords, labels, durations and variables left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        before = expr[match.start() - 1] if match.start() else " "
        if before.isdigit() or before in ".$":
            continue  # part of a number (1e3, 5m) or a Grafana variable
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group() not in PROMQL_KEYWORDS:
            names.add(match.group())
    return names


def test_metric_names_parses_the_promql_we_write() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(fleet_api_request_duration_seconds_bucket{route!~"/m|/h"}[5m])))'
    ) == {"fleet_api_request_duration_seconds_bucket"}
    assert metric_names("sum(rate(a_total[$__rate_interval])) by (x) / on (y) group_left(z) b > bool 1e3") == {
        "a_total",
        "b",
    }
    assert metric_names('absent(up{job="x"}) or max(c{s="silent"}) offset 5m unless d') == {"up", "c", "d"}
    assert metric_names('count(ALERTS{alertname=~"Fleet.*"}) or vector(0)') == {"ALERTS"}


# --- what the files contain ----------------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of alerts.yml."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> parsed dashboard."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expr) of every dashboard query."""
    return [
        (f"{name} panel {panel['id']} ({panel.get('title')}) {target.get('refId')}", target["expr"])
        for name, dashboard in dashboards().items()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def all_queries() -> list[tuple[str, str]]:
    """(where, expr) of every alert rule and dashboard query."""
    return [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()] + dashboard_queries()


# --- what the services export --------------------------------------------------------------------------------


def exposed_names(exposition: str) -> set[str]:
    """Every series name an exposition holds or would hold once its labelled children exist."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        base = family.name
        names.update(base + suffix for suffix in SUFFIXES_BY_TYPE.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def run_python(script: str, *args: str) -> str:
    """Run `script` in a fresh interpreter at the repo root (one process per service, as in production)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def ingest_names() -> set[str]:
    """Names in the /metrics exposition of an ingest process."""
    return exposed_names(run_python(INGEST_EXPOSITION))


@pytest.fixture(scope="module")
def dispatcher_names() -> set[str]:
    """Names in the /metrics exposition of a dispatcher process."""
    return exposed_names(run_python(DISPATCHER_EXPOSITION))


@pytest.fixture(scope="module")
def worker_names() -> set[str]:
    """Names in the /metrics exposition of a worker process."""
    return exposed_names(run_python(WORKER_EXPOSITION))


@pytest.fixture(scope="module")
def api_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Names in GET /metrics of the real API app, on a migrated (empty) database."""
    from fleet.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('api-metrics') / 'fleet.db'}"
    upgrade(url)
    return exposed_names(run_python(API_EXPOSITION, url))


def test_alerts_and_dashboards_use_only_exported_metrics(
    ingest_names: set[str], dispatcher_names: set[str], worker_names: set[str], api_names: set[str]
) -> None:
    assert "fleet_ingest_records_total" in ingest_names  # the exposition was really read
    assert "fleet_dispatcher_messages_total" in dispatcher_names
    assert "fleet_worker_database_ready" in worker_names
    assert "fleet_api_requests_total" in api_names
    unknown = []
    for where, expr in all_queries():
        for name in sorted(metric_names(expr) - SYNTHETIC_SERIES):
            if name.startswith("fleet_ingest_"):
                exporters = ingest_names
            elif name.startswith("fleet_dispatcher_"):
                exporters = dispatcher_names
            elif name.startswith("fleet_worker_"):
                exporters = worker_names
            elif name.startswith("fleet_api_"):
                exporters = api_names
            else:
                exporters = ingest_names | dispatcher_names | worker_names | api_names
            if name not in exporters:
                unknown.append(f"{where}: {name}")
    assert not unknown, "metrics no service exports:\n" + "\n".join(unknown)


def test_every_fleet_metric_is_documented(
    ingest_names: set[str], dispatcher_names: set[str], worker_names: set[str], api_names: set[str]
) -> None:
    doc = OPERATIONS_DOC.read_text()
    assert "fleet_dispatcher_pending_messages" in dispatcher_names
    assert "fleet_worker_files" in worker_names
    families = {
        re.sub(r"_(bucket|sum|count|created)$", "", name)
        for name in ingest_names | dispatcher_names | worker_names | api_names
        if name.startswith("fleet_") and not name.endswith("_created")
    }
    missing = sorted(name for name in families if f"`{name}" not in doc)
    assert not missing, f"docs/operations.md does not describe {missing}"


# --- promtool ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    """Path of promtool (Debian package `prometheus`, installed by scripts/test.sh)."""
    found = shutil.which("promtool")
    assert found, "promtool not found: install the Debian package prometheus (scripts/test.sh does)"
    return found


def run_promtool(promtool: str, *args: str | Path) -> str:
    """Run promtool; fail the test with its output unless it succeeds."""
    result = subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_promtool_checks_the_alert_rules(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", ALERTS)
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_promtool_unit_tests_of_the_alerts_pass(promtool: str) -> None:
    assert "SUCCESS" in run_promtool(promtool, "test", "rules", ALERT_TESTS)


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    tested: dict[str, set[bool]] = {}
    for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            tested.setdefault(check["alertname"], set()).add(bool(check.get("exp_alerts")))
    for rule in alert_rules():
        assert tested.get(rule["alert"]) == {True, False}, f"{rule['alert']}: test it firing and not firing"


def test_promtool_checks_the_compose_prometheus_config(promtool: str, tmp_path: Path) -> None:
    # Laid out as compose mounts it: the rules beside the config, under rules/.
    shutil.copy(PROMETHEUS_CONFIG, tmp_path / "prometheus.yml")
    (tmp_path / "rules").mkdir()
    shutil.copy(ALERTS, tmp_path / "rules" / "alerts.yml")
    output = run_promtool(promtool, "check", "config", tmp_path / "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    # promtool parses the expression of every recording rule: hand it each dashboard query as one.
    rules = [
        {"record": f"dashboard:query:{index}", "expr": GRAFANA_INTERVALS.sub("5m", expr)}
        for index, (_where, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run_promtool(promtool, "check", "rules", path)


# --- alert conventions ---------------------------------------------------------------------------------------


def test_every_alert_has_severity_annotations_and_a_documented_runbook() -> None:
    doc = OPERATIONS_DOC.read_text()
    headings = [line.lstrip("#").strip().lower() for line in doc.splitlines() if line.startswith("#")]
    anchors = {re.sub(r"[^a-z0-9 _-]", "", heading).replace(" ", "-") for heading in headings}
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alert_rules():
        name = rule["alert"]
        assert rule.get("for"), f"{name}: needs a for: duration"
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), name
        assert annotations["runbook_url"] == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/operations.md has no section {name}"


def test_for_durations_sit_on_their_own_lines() -> None:
    # The e2e test shortens them with a regular expression, not by keeping a second copy of the rules.
    lines = re.findall(r"(?m)^\s+for: \S+$", ALERTS.read_text())
    assert len(lines) == len(alert_rules())


def test_selected_jobs_are_scraped() -> None:
    scraped = {job["job_name"] for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]}
    assert {"fleet-ingest", "fleet-dispatcher", "fleet-worker", "fleet-api"} <= scraped
    for where, expr in all_queries():
        for matcher in re.findall(r'job\s*=~?\s*"([^"]*)"', expr):
            for job in matcher.split("|"):
                assert job in scraped, f"{where} selects job {job!r}, which prometheus.yml does not scrape"


# --- dashboards and Grafana provisioning ---------------------------------------------------------------------


def test_dashboards_are_valid_with_unique_ids_and_a_query_per_panel() -> None:
    found = dashboards()
    assert {"fleet-ingest.json", "fleet-api.json", "fleet-health.json"} <= set(found)
    uids = [dashboard["uid"] for dashboard in found.values()]
    assert len(uids) == len(set(uids)), "dashboard uids must be unique"
    for name, dashboard in found.items():
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["current"]["value"] == "prometheus"
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            where = f"{name} panel {panel['id']} ({panel.get('title')})"
            targets = panel.get("targets", [])
            assert targets and all(target.get("expr", "").strip() for target in targets), f"{where}: no query"
            refs = [target["refId"] for target in targets]
            assert len(refs) == len(set(refs)), f"{where}: duplicate refId"
            for source in [panel.get("datasource"), *(target.get("datasource") for target in targets)]:
                assert source in (None, {"type": "prometheus", "uid": "${datasource}"}), f"{where}: {source}"
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), where


def test_grafana_provisioning_matches_the_dashboards() -> None:
    datasource = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["type"] == "prometheus"
    provider = yaml.safe_load((GRAFANA / "dashboards" / "fleet.yml").read_text())["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"  # where compose mounts DASHBOARDS


def test_traefik_routes_the_api_and_not_its_metrics() -> None:
    static = yaml.safe_load((TRAEFIK / "traefik.yml").read_text())
    assert static["entryPoints"]["web"]["address"] == ":80"
    assert static["providers"]["file"]["directory"] == "/etc/traefik/dynamic"
    assert static["api"]["dashboard"] is False and "ping" in static
    dynamic = yaml.safe_load((TRAEFIK / "dynamic" / "fleet.yml").read_text())["http"]
    rule = dynamic["routers"]["fleet-api"]["rule"]
    for path in ("PathPrefix(`/v1`)", "Path(`/healthz`)", "Path(`/readyz`)", "PathPrefix(`/docs`)"):
        assert path in rule
    assert "/metrics" not in rule
    balancer = dynamic["services"]["fleet-api"]["loadBalancer"]
    assert balancer["servers"] == [{"url": "http://api:8000"}]  # what the e2e test replaces
    assert balancer["healthCheck"]["path"] == "/readyz"
