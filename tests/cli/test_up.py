"""`fleet up` serves the API `fleet api` would serve with the same environment, on its own address."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli.up import demo_api_server
from fleet.db.migrate import upgrade
from fleet.settings import SharedSettings


def test_up_serves_the_api_with_the_environments_api_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEET_API_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("FLEET_API_HOST", "0.0.0.0")
    monkeypatch.setenv("FLEET_API_PORT", "9")
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'fleet.db'}")
    upgrade(shared.database_url)

    server = demo_api_server(shared, 8123)

    app = server.config.app
    with TestClient(app) as client:
        too_large = client.post("/v1/admin/vehicles", content=b"x" * 4096, headers={"Content-Type": "application/json"})
    app.state.engine.dispose()
    assert too_large.status_code == 413, "FLEET_API_MAX_BODY_BYTES of the environment applies"
    assert str(app.state.engine.url) == shared.database_url
    assert (server.config.host, server.config.port) == ("127.0.0.1", 8123)
