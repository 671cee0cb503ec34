"""The one error base of the core: expected failures, each kind with the HTTP status the API renders it with."""

from typing import ClassVar


class FleetError(Exception):
    """An expected failure with a message for the user; the API renders it, the CLI prints it."""

    http_status: ClassVar[int] = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(FleetError):
    """Something that does not exist (for the caller: another tenant's things do not exist either)."""

    http_status = 404


class Conflict(FleetError):
    """A request that clashes with what is stored (a name taken, a device registered elsewhere)."""

    http_status = 409


class Invalid(FleetError):
    """A well-formed request whose value breaks a rule (a window too long, a garbled cursor, a bad device id)."""

    http_status = 422


class Unavailable(FleetError):
    """A dependency (the database, the MQTT broker) cannot be reached now; retrying later may work."""

    http_status = 503
