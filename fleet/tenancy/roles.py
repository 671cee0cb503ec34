"""API roles: each one includes the ones below it (admin > operator > viewer)."""

from enum import StrEnum


class Role(StrEnum):
    """What an API token may do."""

    VIEWER = "viewer"  # read
    OPERATOR = "operator"  # read and act on vehicles: replay dead letters (later: alarms, commands, files)
    ADMIN = "admin"  # all of that, and manage vehicles and tokens, read the audit log

    def includes(self, other: "Role") -> bool:
        """Whether a token of this role may do what `other` may."""
        order = list(Role)
        return order.index(self) >= order.index(other)
