"""Import contracts of pyproject.toml: the repo keeps them, and each one breaks on a forbidden import."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("fleet", "ingest", "dispatcher", "worker", "api", "vehicle_sim", "cli")
CONTRACTS: list[str] = [
    c["name"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
]


def lint_imports(root: Path) -> tuple[int, str]:
    """Run lint-imports on the packages under `root`; its exit code and output with whitespace collapsed."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    # No cache: nothing written into the repo, and no stale graph when the copy differs.
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    # Contract names wrap at the terminal width.
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def contract(words: str) -> str:
    """The one contract whose name contains `words`."""
    (name,) = [c for c in CONTRACTS if words in c]
    return name


def test_repo_keeps_import_contracts() -> None:
    code, output = lint_imports(ROOT)
    assert code == 0, output
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in output
    for name in CONTRACTS:
        assert f"{name} KEPT" in output


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("fleet/errors.py", "import api  # noqa", "core fleet depends on no service"),
        ("api/errors.py", "import ingest  # noqa", "are independent"),
        ("dispatcher/metrics.py", "import ingest  # noqa", "are independent"),
        ("ingest/metrics.py", "import dispatcher  # noqa", "are independent"),
        ("worker/metrics.py", "import api  # noqa", "are independent"),
        ("fleet/files/transfer.py", "import worker  # noqa", "core fleet depends on no service"),
        ("worker/metrics.py", "import cli  # noqa", "Only cli wires the services"),
        ("fleet/outbox/service.py", "import dispatcher  # noqa", "core fleet depends on no service"),
        ("dispatcher/metrics.py", "import cli  # noqa", "Only cli wires the services"),
        ("ingest/metrics.py", "import cli  # noqa", "Only cli wires the services"),
        ("vehicle_sim/coverage.py", "import sqlalchemy  # noqa", "simulator speaks only the wire contract"),
        ("vehicle_sim/coverage.py", "import fleet.db.models  # noqa", "simulator speaks only the wire contract"),
    ],
)
def test_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as f:
        f.write(f"\n{line}\n")

    code, output = lint_imports(tmp_path)
    assert code != 0, output
    assert f"{contract(broken)} BROKEN" in output
    importer, imported = module.removesuffix(".py").replace("/", "."), line.split()[1]
    assert f"{importer} -> {imported}" in output
