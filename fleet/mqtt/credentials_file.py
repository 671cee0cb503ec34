"""The file a unit (or the simulator) is provisioned with: one `device_id,password` line per device."""

import csv
import os
from collections.abc import Mapping
from pathlib import Path

HEADER = ("device_id", "password")


def write_credentials(path: Path, passwords: Mapping[str, str]) -> None:
    """Write the secrets readable by the owner only (they are shown nowhere else)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(sorted(passwords.items()))


def read_credentials(path: Path) -> dict[str, str]:
    """Device id -> password from a file `write_credentials` wrote."""
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    if not rows or tuple(rows[0]) != HEADER:
        raise ValueError(f"{path} is not a credentials file: its first line must be {','.join(HEADER)}")
    return {device_id: password for device_id, password in rows[1:]}
