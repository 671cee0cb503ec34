"""The API server `fleet api` builds keeps what lives as long as the process out of the collector's full passes."""

import gc
from pathlib import Path

from cli.services import api_server
from fleet.db.migrate import upgrade
from fleet.settings import ApiSettings, BrokerSettings, SharedSettings


def test_the_api_server_freezes_what_it_built_out_of_the_collectors_passes(tmp_path: Path) -> None:
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'fleet.db'}")
    upgrade(shared.database_url)
    gc.unfreeze()
    try:
        server = api_server(shared, ApiSettings(), BrokerSettings())
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    server.config.app.state.engine.dispose()
    assert frozen > 10_000, f"only {frozen} objects frozen: a full pass rescans the app's routes and schemas"
