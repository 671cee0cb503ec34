"""Schema-driven fuzzing of the whole API with Schemathesis: every operation, every check, 100 examples each.

The app runs in-process on a seeded SQLite database with an admin token, so generated requests reach the
handlers rather than stopping at 401. No answer may be a server error, and every answer must match the
published OpenAPI schema (status code, content type, body, headers).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from fleet.db.migrate import upgrade
from fleet.settings import ApiSettings, SharedSettings
from tests.api.conftest import UNREACHABLE_BROKER

pytestmark = pytest.mark.timeout(600)

# The floor: at least 100 generated requests per operation (about fifty operations, some 5,000 requests).
EXAMPLES_PER_OPERATION = 100


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    from api.app import create_app
    from fleet.db.engine import make_engine, make_session_factory
    from fleet.registry.service import add_vehicles
    from fleet.tenancy.service import create_tenant

    url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fleet.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        tenant, token = create_tenant(session, "fuzz")
        add_vehicles(session, tenant, ["bus-1", "bus-2"])
        session.commit()
    # Limits high enough that thousands of generated requests are not answered 429 for being many.
    api = ApiSettings(rate_limit_per_minute=1_000_000, auth_failures_per_minute=100_000)
    app = create_app(SharedSettings(database_url=url, mqtt_url=UNREACHABLE_BROKER), api)
    yield app, token
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: tuple[FastAPI, str]) -> Any:
    app, _token = fuzzed_app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# An event stream never ends, and the in-process client waits for the whole answer: tests/live covers it.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/v1/stream")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    # The same examples on every run, so a failure in CI reproduces on a laptop; widen by changing the count.
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_no_operation_fails_or_breaks_its_schema(case: Any, fuzzed_app: tuple[FastAPI, str]) -> None:
    _app, token = fuzzed_app
    # The token goes on every request, except where the generator broke the headers on purpose (dropped or
    # garbled the Authorization header): adding it back would turn a request that must fail into a valid one.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    case.call_and_validate(headers=None if negative_headers else {"Authorization": f"Bearer {token}"})
