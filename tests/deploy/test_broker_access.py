"""The broker's access control as deployed: no anonymous client anywhere, identities from secrets, TLS, bootstrap.

The shipped mosquitto.conf, the Helm chart (and the kustomize base generated from it) and docker-compose must agree
with fleet.mqtt.policy and docs/security.md: each workload connects as its own identity, the broker refuses
anonymous clients and loads the dynamic-security plugin, whose first file is written before the broker starts.
"""

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cli.main import build_parser
from fleet.mqtt.policy import SERVICE_GRANTS, ServiceIdentity, vehicle_grants
from tests.deploy.test_manifests import (
    ALL_ON,
    BIN,
    CHART,
    COMPOSE,
    COMPOSE_SECRETS,
    CRD_API_VERSIONS,
    OVERLAYS,
    ROOT,
    by_kind,
    compose_environment,
    pod_specs,
    render,
    render_k8s,
    run,
    tool,
)

BROKER_CONF = CHART / "files" / "mosquitto.conf"
SECURITY_DOC = ROOT / "docs" / "security.md"
# An external broker that fleet does not manage, over TLS with a private CA.
EXTERNAL: dict[str, Any] = {
    "mqtt": {"url": "mqtts://broker.example:8883", "caSecret": "broker-ca", "manageVehicleCredentials": False},
    "simulator": {"enabled": True},
}
# `$(VAR)` references that the kubelet expands from earlier env entries.
ENV_REFERENCE = re.compile(r"^\$\(([A-Za-z_][A-Za-z0-9_]*)\)$")


def broker_conf() -> list[tuple[str, str]]:
    """(key, value) of every setting of the shipped mosquitto.conf, in order."""
    settings = []
    for line in BROKER_CONF.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings.append((key, value.strip()))
    return settings


def conf_value(key: str) -> str:
    values = [v for k, v in broker_conf() if k == key]
    assert len(values) == 1, f"mosquitto.conf sets {key} {len(values)} times"
    return values[0]


def chart_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def containers(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = template["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def rendered_sets() -> dict[str, list[dict[str, Any]]]:
    """Chart renders that together reach every MQTT client: defaults, every switch on, an external broker."""
    return {
        "defaults": render(),
        "all-on": render(ALL_ON, api_versions=CRD_API_VERSIONS),
        "external": render(EXTERNAL),
        "kustomize-base": render(render_k8s.load_values()),
    }


@pytest.fixture(scope="module")
def chart_renders() -> dict[str, list[dict[str, Any]]]:
    return rendered_sets()


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    """`docker-compose config`: anchors merged and variables interpolated (with placeholder passwords)."""
    result = run(tool("docker-compose"), "-f", COMPOSE, "config", env=compose_environment(**COMPOSE_SECRETS))
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="module")
def overlay_objects() -> dict[str, list[dict[str, Any]]]:
    built = {}
    for overlay in sorted(p for p in OVERLAYS.iterdir() if p.is_dir()):
        text = run(tool("kubectl"), "kustomize", overlay).stdout
        built[overlay.name] = [doc for doc in yaml.safe_load_all(text) if doc]
    return built


# --- the broker configuration -------------------------------------------------------------------------------------


def test_broker_refuses_anonymous_clients_and_loads_the_plugin() -> None:
    settings = broker_conf()
    assert conf_value("allow_anonymous") == "false"
    assert conf_value("plugin") == "/usr/lib/mosquitto_dynamic_security.so", "the path in eclipse-mosquitto"
    # The plugin's file lives on the broker's volume, so run-time changes (revocations) survive restarts.
    plugin_file = Path(conf_value("plugin_opt_config_file"))
    assert plugin_file.parent == Path(conf_value("persistence_location"))
    # No second source of identities or ACLs beside the plugin, and nothing that widens it.
    keys = {k for k, _ in settings}
    assert not keys & {"password_file", "acl_file", "per_listener_settings", "auth_plugin"}, keys


def test_listeners_are_plain_for_the_cluster_and_tls_for_vehicles() -> None:
    settings = broker_conf()
    listeners = [(i, v) for i, (k, v) in enumerate(settings) if k == "listener"]
    assert [v for _, v in listeners] == ["1883", "8883"]
    values = chart_values()["mosquitto"]
    assert (values["port"], values["tlsPort"]) == (1883, 8883), "values.yaml must match the listeners"
    # certfile and keyfile follow the second listener (tests/fixtures/mosquitto.py relies on the order too).
    tls_start = listeners[1][0]
    tls = {k: v for k, v in settings[tls_start + 1 :] if k in ("certfile", "keyfile")}
    assert tls == {"certfile": "/mosquitto/certs/tls.crt", "keyfile": "/mosquitto/certs/tls.key"}
    assert not any(k in ("certfile", "keyfile") for k, _ in settings[:tls_start])


# --- Helm chart and kustomize -------------------------------------------------------------------------------------


def mqtt_urls(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(workload/container, variable, its env entry, all env entries) of every broker URL a container gets."""
    for name, template in pod_specs(objects):
        for container in containers(template):
            env = {e["name"]: e for e in container.get("env", [])}
            for variable in ("FLEET_MQTT_URL", "FLEET_BROKER_ADMIN_URL"):
                if variable in env:
                    yield f"{name}/{container['name']}", variable, env[variable], env


def test_no_workload_connects_anonymously(chart_renders: dict[str, list[dict[str, Any]]]) -> None:
    """Every broker URL names a user whose password is read from a Secret; the simulator's buses use their own."""
    for render_name, objects in chart_renders.items():
        for config_map in by_kind(objects, "ConfigMap").values():
            assert "FLEET_MQTT_URL" not in config_map.get("data", {}), f"{render_name}: a shared, identity-less URL"
        seen = 0
        for where, variable, entry, env in mqtt_urls(objects):
            seen += 1
            url = urlsplit(entry["value"])
            assert url.scheme in ("mqtt", "mqtts"), (render_name, where, url)
            if where.startswith("Deployment/fleet-simulator/") and variable == "FLEET_MQTT_URL":
                # Each bus connects as its device id with its password from the credentials file.
                assert not url.username, (render_name, where)
                assert env["FLEET_SIM_CREDENTIALS_FILE"]["value"], (render_name, where)
                continue
            assert url.username, f"{render_name}: {where} {variable} connects anonymously"
            reference = ENV_REFERENCE.match(url.password or "")
            assert reference, f"{render_name}: {where} {variable} carries a literal password"
            source = env[reference.group(1)]["valueFrom"]["secretKeyRef"]
            assert source["name"] and source["key"], (render_name, where)
            names = [e["name"] for e in env.values()]
            assert names.index(reference.group(1)) < names.index(variable), "$(VAR) needs VAR defined before it"
        assert seen, render_name


def identities(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str | None]:
    """(workload, variable) -> user name of the URL."""
    urls = mqtt_urls(objects)
    return {(where.split("/")[1], variable): urlsplit(entry["value"]).username for where, variable, entry, _ in urls}


def test_each_workload_has_its_own_identity(chart_renders: dict[str, list[dict[str, Any]]]) -> None:
    admin = chart_values()["mqtt"]["adminUsername"]
    for render_name in ("all-on", "kustomize-base"):
        users = identities(chart_renders[render_name])
        assert users[("fleet-ingest", "FLEET_MQTT_URL")] == ServiceIdentity.INGEST.value
        # The dispatcher alone publishes (the downlink, dead-letter replays) as fleet-publisher, and administers
        # nothing.
        assert users[("fleet-dispatcher", "FLEET_MQTT_URL")] == ServiceIdentity.PUBLISHER.value
        assert ("fleet-dispatcher", "FLEET_BROKER_ADMIN_URL") not in users
        # The API publishes and subscribes to nothing: no broker URL of its own, no publisher password in its pod.
        assert ("fleet-api", "FLEET_MQTT_URL") not in users
        publisher_key = chart_values()["mqtt"]["secretKeys"]["publisherPassword"]
        assert publisher_key not in secret_keys_of(chart_renders[render_name], "fleet-api"), render_name
        assert publisher_key in secret_keys_of(chart_renders[render_name], "fleet-dispatcher"), render_name
        # The worker uses no MQTT at all: it reaches the units through the outbox.
        assert not [key for key in users if key[0] == "fleet-worker"]
        # The API issues vehicle credentials; the bootstrap writes the admin into the plugin's file.
        assert users[("fleet-api", "FLEET_BROKER_ADMIN_URL")] == admin
        assert users[("fleet-mosquitto", "FLEET_BROKER_ADMIN_URL")] == admin
        assert ("fleet-ingest", "FLEET_BROKER_ADMIN_URL") not in users, "ingest never administers the broker"
    # An external broker whose identities are managed elsewhere: no admin anywhere, the CA mounted for TLS.
    external = chart_renders["external"]
    assert not any(variable == "FLEET_BROKER_ADMIN_URL" for (_, variable) in identities(external))
    for name in ("fleet-api", "fleet-ingest", "fleet-dispatcher", "fleet-simulator"):
        workload = {**by_kind(external, "Deployment"), **by_kind(external, "StatefulSet")}[name]
        spec = workload["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = {e["name"]: e for e in container["env"]}
        ca_file = Path(env["FLEET_MQTT_CA_FILE"]["value"])
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "mqtt-ca"]
        assert ca_file.parent == Path(mount["mountPath"]), name
        (volume,) = [v for v in spec["volumes"] if v["name"] == "mqtt-ca"]
        assert volume["secret"]["secretName"] == "broker-ca", name
        if name == "fleet-api":
            # Nothing to connect to: the broker's identities are managed elsewhere and the API uses no MQTT.
            assert not {"FLEET_MQTT_URL", "MQTT_PASSWORD"} & env.keys()
        else:
            assert urlsplit(env["FLEET_MQTT_URL"]["value"]).scheme == "mqtts", name


def secret_keys_of(objects: list[dict[str, Any]], workload: str) -> set[str]:
    """The Secret keys a workload's containers read into their environment."""
    keys = set()
    for name, template in pod_specs(objects):
        if name.split("/")[1] != workload:
            continue
        for container in containers(template):
            for entry in container.get("env", []):
                reference = entry.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    keys.add(reference["key"])
    return keys


def mosquitto_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = by_kind(objects, "StatefulSet")["fleet-mosquitto"]["spec"]["template"]["spec"]
    return pod


def test_bootstrap_init_container_writes_the_plugin_file_before_the_broker(
    chart_renders: dict[str, list[dict[str, Any]]],
) -> None:
    for render_name in ("all-on", "kustomize-base"):
        pod = mosquitto_pod(chart_renders[render_name])
        (init,) = pod["initContainers"]
        (broker,) = pod["containers"]
        assert init["image"].split(":")[0].split("@")[0].endswith("fleet"), "the fleet image runs the bootstrap"
        args = build_parser().parse_args(init["args"])
        assert (args.action, args.if_missing, args.from_database) == ("bootstrap", True, True), render_name
        assert str(args.out) == conf_value("plugin_opt_config_file")
        data = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
        assert data["data"].rstrip("/") == str(args.out.parent)
        assert {m["name"]: m["mountPath"] for m in broker["volumeMounts"]}["data"] == data["data"]
        # It writes the file as the broker's own user (uid 1883 of eclipse-mosquitto): no runAsUser of its own.
        assert pod["securityContext"]["runAsUser"] == 1883 and pod["securityContext"]["fsGroup"] == 1883
        assert "runAsUser" not in init["securityContext"] and "runAsUser" not in broker["securityContext"]
        assert init["workingDir"] == "/tmp", "the image's own working directory is not the mosquitto uid's"
        env = {e["name"]: e for e in init["env"]}
        assert {"FLEET_BROKER_INGEST_PASSWORD", "FLEET_BROKER_PUBLISHER_PASSWORD", "FLEET_DATABASE_URL"} <= set(env)
        for name in ("FLEET_BROKER_INGEST_PASSWORD", "FLEET_BROKER_PUBLISHER_PASSWORD", "FLEET_DATABASE_URL"):
            assert env[name]["valueFrom"]["secretKeyRef"], name
        # The broker itself, the process facing the internet, gets no password and no database URL.
        assert not broker.get("env") and not broker.get("envFrom"), render_name

    values = {**ALL_ON, "mosquitto": {"enabled": True, "bootstrap": {"fromDatabase": False}}}
    (init,) = mosquitto_pod(render(values))["initContainers"]
    env = {e["name"]: e for e in init["env"]}
    assert "--from-database" not in init["args"] and "FLEET_DATABASE_URL" not in env
    assert env["FLEET_ENVIRONMENT"]["value"] == "development", "settings must not insist on a database"


def test_tls_listener_certificate_comes_from_a_mounted_secret(chart_renders: dict[str, list[dict[str, Any]]]) -> None:
    certfile, keyfile = Path(conf_value("certfile")), Path(conf_value("keyfile"))
    assert certfile.parent == keyfile.parent
    for render_name, expected in (("all-on", "fleet-mosquitto-tls"), ("kustomize-base", "fleet-mosquitto-tls")):
        pod = mosquitto_pod(chart_renders[render_name])
        (broker,) = pod["containers"]
        (mount,) = [m for m in broker["volumeMounts"] if m["mountPath"] == str(certfile.parent)]
        assert mount["readOnly"] is True
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        secret = volume["secret"]
        assert secret["secretName"] == expected, render_name
        # The keys of a kubernetes.io/tls Secret, at the paths the listener reads.
        assert {i["key"]: i["path"] for i in secret["items"]} == {"tls.crt": certfile.name, "tls.key": keyfile.name}
        assert secret["defaultMode"] & 0o007 == 0, "the private key is not world-readable"
        ports = {p["name"]: p["containerPort"] for p in broker["ports"]}
        assert ports == {"mqtt": 1883, "mqtts": 8883}
    named = mosquitto_pod(render({**ALL_ON, "mosquitto": {"enabled": True, "tls": {"secretName": "broker-cert"}}}))
    assert {v["name"]: v for v in named["volumes"]}["certs"]["secret"]["secretName"] == "broker-cert"


def test_vehicles_reach_only_the_tls_port_from_outside(chart_renders: dict[str, list[dict[str, Any]]]) -> None:
    objects = chart_renders["all-on"]
    services = by_kind(objects, "Service")
    assert {p["name"]: p["port"] for p in services["fleet-mosquitto"]["spec"]["ports"]} == {"mqtt": 1883, "mqtts": 8883}
    assert services["fleet-mosquitto"]["spec"]["type"] == "ClusterIP"
    devices = services["fleet-mosquitto-devices"]["spec"]
    assert devices["type"] == "LoadBalancer" and [p["port"] for p in devices["ports"]] == [8883]
    assert devices["loadBalancerSourceRanges"] == ["100.64.0.0/10"]
    assert "fleet-mosquitto-devices" not in by_kind(chart_renders["kustomize-base"], "Service")

    own = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "fleet", "app.kubernetes.io/instance": "fleet"}}}
    for render_name in ("all-on", "kustomize-base"):
        policy = by_kind(chart_renders[render_name], "NetworkPolicy")["fleet-mosquitto"]
        rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
        assert set(rules) == {"mqtt", "mqtts"}, render_name
        assert rules["mqtt"]["from"] == [own], "plain MQTT only from the release's own pods"
        assert "from" not in rules["mqtts"], "the vehicles come from anywhere unless mosquittoFrom narrows it"


def test_chart_made_broker_secret_needs_every_password() -> None:
    import helm_python

    secret = by_kind(render(ALL_ON), "Secret")["fleet-mqtt"]
    assert set(secret["stringData"]) == {"ingest-password", "publisher-password", "admin-password"}
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", "the broker keeps its passwords"
    partial = {**ALL_ON, "mqtt": {"ingestPassword": "a", "publisherPassword": "b"}}
    with pytest.raises(helm_python.HelmRenderError, match="adminPassword"):
        render(partial)
    # Without the admin (an external broker fleet does not manage) two passwords suffice.
    external = by_kind(render({**EXTERNAL, "mqtt": {**EXTERNAL["mqtt"], **partial["mqtt"]}}), "Secret")["fleet-mqtt"]
    assert set(external["stringData"]) == {"ingest-password", "publisher-password"}
    # A named Secret is used as it is; the chart makes none.
    existing = render({**ALL_ON, "mqtt": {"existingSecret": "broker-identities"}})
    assert "fleet-mqtt" not in by_kind(existing, "Secret")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for _, _, _, env in mqtt_urls(existing) for e in env.values()
            if "secretKeyRef" in e.get("valueFrom", {}) and e["name"] != "FLEET_DATABASE_URL"
            and not e["name"].startswith("FLEET_S3_")}  # fmt: skip
    assert refs == {"broker-identities"}


def test_values_schema_keeps_credentials_out_of_urls() -> None:
    import helm_python

    for bad in (
        {"mqtt": {"url": "mqtt://fleet-ingest:secret@broker:1883"}},
        {"mqtt": {"ingestPassword": "has space"}},
        {"mqtt": {"adminPassword": "p@ss/word"}},
        {"mosquitto": {"service": {"type": "LoadBalancer"}}},  # the plain port never leaves the cluster
    ):
        with pytest.raises(helm_python.HelmValuesError):
            render(bad)


def test_overlays_provide_the_broker_secret_the_base_reads(overlay_objects: dict[str, list[dict[str, Any]]]) -> None:
    keys = set(chart_values()["mqtt"]["secretKeys"].values())
    dev = {o["metadata"]["name"]: o for o in overlay_objects["dev"] if o["kind"] == "Secret"}
    (generated,) = [s for name, s in dev.items() if name.startswith("fleet-mqtt-")]
    assert set(generated["data"]) == keys
    for overlay, objects in overlay_objects.items():
        for where, _variable, _entry, env in mqtt_urls(objects):
            for entry in env.values():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and entry["name"] != "FLEET_DATABASE_URL" and not entry["name"].startswith("FLEET_S3_"):
                    assert ref["key"] in keys, (overlay, where, ref)
                    if overlay == "dev":
                        assert ref["name"] == generated["metadata"]["name"], (where, ref)


# --- docker-compose -----------------------------------------------------------------------------------------------


def fleet_command(service: dict[str, Any], subcommand: str) -> list[str]:
    """The `fleet <subcommand> ...` words of a one-shot service's shell script, up to the first shell expansion."""
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    for part in re.split(r";|&&|\|\|", " ".join(service["command"])):
        words = shlex.split(part)
        if words[:2] == ["fleet", subcommand]:
            expansion = next((i for i, w in enumerate(words) if w.startswith("$")), len(words))
            return words[1:expansion]
    raise AssertionError(f"no `fleet {subcommand}` in {service['command']!r}")


def volumes(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Container path -> (source, read-only) of a service's mounts as `docker-compose config` prints them."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
        else:
            source, target, *mode = volume.split(":")
            mounts[target] = (source, mode == ["ro"])
    return mounts


def published(service: dict[str, Any]) -> dict[int, str | None]:
    """Container port -> host address it is published on (None: every address)."""
    ports: dict[int, str | None] = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports[int(port["target"])] = port.get("host_ip")
        else:
            parts = str(port).split("/")[0].split(":")
            ports[int(parts[-1])] = parts[0] if len(parts) == 3 else None
    return ports


def test_no_compose_service_connects_anonymously(compose_config: dict[str, Any]) -> None:
    raw = COMPOSE.read_text()
    secrets = set(COMPOSE_SECRETS.values())
    seen = 0
    for name, service in compose_config["services"].items():
        env = service.get("environment") or {}
        for variable in ("FLEET_MQTT_URL", "FLEET_BROKER_ADMIN_URL"):
            if variable not in env:
                continue
            seen += 1
            url = urlsplit(env[variable])
            if name == "sim" and variable == "FLEET_MQTT_URL":
                assert not url.username and env["FLEET_SIM_CREDENTIALS_FILE"], "buses connect as themselves"
                continue
            assert url.username, f"{name} {variable} connects anonymously"
            assert url.password in secrets, f"{name} {variable}: the password must be a required variable"
    assert seen >= 5
    # The passwords come only from ${MQTT_*_PASSWORD:?...}: no default anywhere in the file.
    assert not re.search(r"\$\{MQTT_[A-Z]+_PASSWORD:?-", raw)
    services = compose_config["services"]
    users = {n: urlsplit(s.get("environment", {}).get("FLEET_MQTT_URL", "")).username for n, s in services.items()}
    assert users["ingest-1"] == users["ingest-2"] == ServiceIdentity.INGEST.value
    # The dispatcher alone publishes, as fleet-publisher, and never as the admin.
    assert users["dispatcher"] == ServiceIdentity.PUBLISHER.value
    assert "FLEET_BROKER_ADMIN_URL" not in services["dispatcher"]["environment"]
    # The API uses no MQTT: the broker admin (vehicle credentials) only, and no publisher password anywhere in it.
    api = services["api"]["environment"]
    assert "FLEET_MQTT_URL" not in api
    assert urlsplit(api["FLEET_BROKER_ADMIN_URL"]).username == "fleet-admin"
    assert not [k for k, v in api.items() if COMPOSE_SECRETS["MQTT_PUBLISHER_PASSWORD"] in str(v)]


def test_compose_bootstraps_the_broker_before_it_starts(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    mosquitto = services["mosquitto"]
    for one_shot in ("broker-bootstrap", "broker-certs"):
        assert mosquitto["depends_on"][one_shot]["condition"] == "service_completed_successfully", one_shot
        assert services[one_shot]["restart"] == "no"
    broker_mounts = volumes(mosquitto)

    bootstrap = services["broker-bootstrap"]
    args = build_parser().parse_args(fleet_command(bootstrap, "broker"))
    assert (args.action, args.if_missing, args.from_database) == ("bootstrap", True, True)
    assert str(args.out) == conf_value("plugin_opt_config_file")
    data_dir = str(args.out.parent)
    assert volumes(bootstrap)[data_dir][0] == broker_mounts[data_dir][0], "it writes into the broker's data volume"
    # --from-database reads the migrated database.
    assert bootstrap["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = bootstrap["environment"]
    assert urlsplit(env["FLEET_BROKER_ADMIN_URL"]).username and env["FLEET_BROKER_INGEST_PASSWORD"]
    assert env["FLEET_BROKER_PUBLISHER_PASSWORD"]
    assert f"chown 1883:1883 {args.out}" in " ".join(bootstrap["command"]), "the file belongs to the mosquitto user"

    certs_dir = str(Path(conf_value("certfile")).parent)
    assert str(Path(conf_value("keyfile")).parent) == certs_dir
    certs = services["broker-certs"]
    assert volumes(certs)[certs_dir][0] == broker_mounts[certs_dir][0]
    assert broker_mounts[certs_dir][1], "the broker mounts its certificate read-only"
    script = " ".join(certs["command"])
    for produced in (Path(conf_value("certfile")).name, Path(conf_value("keyfile")).name, "ca.crt"):
        assert produced in script, produced
    assert "subjectAltName=DNS:mosquitto" in script, "clients verify the name they connect to"
    assert not certs.get("environment"), "the certificate job needs no secret"

    # The health check needs no secret: both listeners refuse an anonymous client (CONNACK 5).
    check = " ".join(mosquitto["healthcheck"]["test"])
    assert "-p 1883" in check and "-p 8883" in check and check.count("-eq 5") == 2
    ports = published(mosquitto)
    assert set(ports) == {1883, 8883}
    assert ports[1883] == "127.0.0.1", "plain MQTT is published on the host's loopback only"


def test_compose_registers_the_demo_buses_for_the_simulator(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    register, sim = services["register-demo-buses"], services["sim"]
    args = build_parser().parse_args([*fleet_command(register, "vehicle"), "sim-0001"])
    assert args.tenant == "demo" and args.credentials_out is not None
    assert str(args.credentials_out) == sim["environment"]["FLEET_SIM_CREDENTIALS_FILE"]
    shared = str(args.credentials_out.parent)
    sim_mounts = volumes(sim)
    assert sim_mounts[shared] == (volumes(register)[shared][0], True), "the sim reads what the one-shot wrote"
    assert urlsplit(register["environment"]["FLEET_BROKER_ADMIN_URL"]).username, "it issues the credentials"
    assert register["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert register["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert sim["depends_on"]["register-demo-buses"]["condition"] == "service_completed_successfully"
    # The buses connect like real units: TLS, trusting the CA file from the broker's certificate volume.
    assert urlsplit(sim["environment"]["FLEET_MQTT_URL"]).scheme == "mqtts"
    ca_dir = str(Path(sim["environment"]["FLEET_MQTT_CA_FILE"]).parent)
    certs_dir = str(Path(conf_value("certfile")).parent)
    assert sim_mounts[ca_dir] == (volumes(services["mosquitto"])[certs_dir][0], True)


# --- docs ---------------------------------------------------------------------------------------------------------


def test_security_doc_lists_every_grant_of_the_policy() -> None:
    """docs/security.md's table of who may do what on the broker stays what fleet.mqtt.policy grants."""
    doc = SECURITY_DOC.read_text()
    for grant in vehicle_grants("<device_id>"):
        assert f"`{grant.topic}`" in doc, grant
    for identity, grants in SERVICE_GRANTS.items():
        assert f"`{identity.value}`" in doc, identity
        for grant in grants:
            assert f"`{grant.topic}`" in doc, (identity, grant)
    assert "$CONTROL/dynamic-security/v1" in doc


def test_bootstrap_file_is_what_the_plugin_path_expects(tmp_path: Path) -> None:
    """`fleet broker bootstrap` as the init container and compose run it writes a plugin file readable only by its
    owner (the broker's user), with default deny."""
    out = tmp_path / Path(conf_value("plugin_opt_config_file")).name
    env = {
        "FLEET_BROKER_ADMIN_URL": "mqtt://fleet-admin:a@mosquitto:1883",
        "FLEET_BROKER_INGEST_PASSWORD": "b",
        "FLEET_BROKER_PUBLISHER_PASSWORD": "c",
    }
    command = [str(BIN / "fleet"), "broker", "bootstrap", "--if-missing", "--out", str(out)]
    first = run(*command, cwd=tmp_path, env=env)
    assert "2 services, 0 units" in first.stdout
    assert out.stat().st_mode & 0o077 == 0
    config = json.loads(out.read_text())
    assert config["defaultACLAccess"]["publishClientSend"] is False and config["defaultACLAccess"]["subscribe"] is False
    users = {client["username"] for client in config["clients"]}
    assert users == {"fleet-admin", ServiceIdentity.INGEST.value, ServiceIdentity.PUBLISHER.value}
    assert "left as it is" in run(*command, cwd=tmp_path, env=env).stdout
