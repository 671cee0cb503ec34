"""`fleet tenant create` and `fleet token create | list | revoke`: secrets printed once, never listed; audited."""

from collections.abc import Callable

import pytest
from sqlalchemy import select

from cli.main import main
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import ApiToken, AuditEntry, utcnow
from fleet.tenancy.service import INITIAL_TOKEN_NAME, TOKEN_PREFIX, hash_token

Fleet = Callable[..., str]


@pytest.fixture
def fleet(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Fleet:
    """Run `fleet ARGS...` on a fresh SQLite database; its standard output."""
    monkeypatch.setenv("FLEET_DATABASE_URL", sqlite_url)

    def run(*args: str) -> str:
        capfd.readouterr()
        main(list(args))
        return capfd.readouterr().out

    return run


def stored(sqlite_url: str) -> tuple[list[ApiToken], list[tuple[str, str, str | None, str | None]]]:
    """Every token, and (actor, action, target, address) of every audit entry."""
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        tokens = list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        log = [(e.actor, e.action, e.target, e.address) for e in entries]
    engine.dispose()
    return tokens, log


def test_create_list_and_revoke_tokens(fleet: Fleet, sqlite_url: str) -> None:
    first = fleet("tenant", "create", "acme").strip().splitlines()
    created = fleet("token", "create", "--tenant", "acme", "--role", "viewer", "--name", "wall", "--expires-in", "30")
    fleet("token", "create", "--tenant", "acme", "--role", "operator", "--name", "ci")
    secret = created.strip().splitlines()[-1]

    assert "'initial-admin' (shown once)" in first[0] and first[-1].startswith(TOKEN_PREFIX)
    assert "created viewer token 'wall' (id 2) for tenant 'acme', expires " in created
    assert secret.startswith(TOKEN_PREFIX)
    tokens, _ = stored(sqlite_url)
    assert [(t.name, t.role, t.token_hash) for t in tokens] == [
        (INITIAL_TOKEN_NAME, "admin", hash_token(first[-1])),
        ("wall", "viewer", hash_token(secret)),
        ("ci", "operator", tokens[2].token_hash),
    ]

    assert "token 'wall' (id 2) of tenant 'acme' revoked at " in fleet("token", "revoke", "--tenant", "acme", "wall")
    assert "token 'ci' (id 3) of tenant 'acme' revoked" in fleet("token", "revoke", "--tenant", "acme", "3")
    assert "was already revoked" in fleet("token", "revoke", "--tenant", "acme", "ci")

    listing = fleet("token", "list", "--tenant", "acme").splitlines()
    assert listing[0].split() == ["ID", "NAME", "ROLE", "CREATED", "EXPIRES", "LAST", "USED", "REVOKED"]
    rows = [line.split() for line in listing[1:]]
    today = f"{utcnow():%Y-%m-%d}"
    assert [r[:3] for r in rows] == [
        ["1", INITIAL_TOKEN_NAME, "admin"],
        ["2", "wall", "viewer"],
        ["3", "ci", "operator"],
    ]
    assert rows[0][3:] == [rows[0][3], "-", "-", "-"] and rows[0][3].startswith(today)
    assert rows[1][4] != "-" and rows[1][6].startswith(today)
    assert all(TOKEN_PREFIX not in line and tokens[0].token_hash not in line for line in listing)

    _, log = stored(sqlite_url)
    assert log == [
        ("cli", "token.create", INITIAL_TOKEN_NAME, None),
        ("cli", "token.create", "wall", None),
        ("cli", "token.create", "ci", None),
        ("cli", "token.revoke", "wall", None),
        ("cli", "token.revoke", "ci", None),
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["token", "create", "--tenant", "acme", "--role", "viewer", "--name", INITIAL_TOKEN_NAME], "already exists"),
        (["token", "create", "--tenant", "acme", "--role", "viewer", "--name", "42"], "invalid token name"),
        (["token", "create", "--tenant", "nobody", "--role", "viewer", "--name", "x"], "no tenant named 'nobody'"),
        (["token", "create", "--tenant", "acme", "--role", "viewer", "--name", "x", "--expires-in", "0"], "expires"),
        (["token", "revoke", "--tenant", "acme", "nobody"], "no token named 'nobody'"),
        (["token", "revoke", "--tenant", "other", "1"], "no token 1"),  # acme's first token, not other's
        (["token", "list", "--tenant", "nobody"], "no tenant named 'nobody'"),
    ],
)
def test_refusals_are_one_line_errors(
    fleet: Fleet, capfd: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    fleet("tenant", "create", "acme")
    fleet("tenant", "create", "other")

    with pytest.raises(SystemExit) as exit_:
        fleet(*args)

    err = capfd.readouterr().err
    assert exit_.value.code == 1
    assert err.startswith("fleet: error: ") and error in err and len(err.splitlines()) == 1


def test_a_role_must_be_one_of_the_three(fleet: Fleet, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        fleet("token", "create", "--tenant", "acme", "--role", "root", "--name", "x")

    assert exit_.value.code == 2
    assert "invalid choice: 'root'" in capfd.readouterr().err
