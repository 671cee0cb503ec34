"""`fleet up` serves the API `fleet api` would serve with the same environment, on its own address."""

from datetime import timedelta
from pathlib import Path

import pytest

from cli.up import demo_api_server
from fleet.settings import SharedSettings


def test_up_serves_the_api_with_the_environments_api_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEET_API_SILENT_AFTER_SECONDS", "42")
    monkeypatch.setenv("FLEET_API_HOST", "0.0.0.0")
    monkeypatch.setenv("FLEET_API_PORT", "9")
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'fleet.db'}")

    server = demo_api_server(shared, 8123)

    state = server.config.app.state
    state.engine.dispose()
    assert state.silent_after == timedelta(seconds=42)
    assert str(state.engine.url) == shared.database_url
    assert (server.config.host, server.config.port) == ("127.0.0.1", 8123)
