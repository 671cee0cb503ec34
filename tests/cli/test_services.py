"""The API server `fleet api` builds keeps what lives as long as the process out of the collector's full passes."""

import gc
from pathlib import Path

import pytest

from cli.services import api_server
from fleet.db.migrate import upgrade
from fleet.settings import ApiSettings, BrokerSettings, SharedSettings


@pytest.mark.usefixtures("thawed_collector")
def test_the_api_server_freezes_what_it_built_out_of_the_collectors_passes(tmp_path: Path) -> None:
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'fleet.db'}")
    upgrade(shared.database_url)

    server = api_server(shared, ApiSettings(), BrokerSettings())

    server.config.app.state.engine.dispose()
    assert gc.get_freeze_count() > 10_000, "a full pass rescans the app's routes and schemas"
