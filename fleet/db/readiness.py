"""A service's readiness as far as its database goes: ready after a pass succeeded, not ready while the database is
away, and ended by a schema fault (an unmigrated database), which no retry can fix."""

import logging

from prometheus_client import Gauge

from fleet.db.errors import DatabaseFault, classify

logger = logging.getLogger(__name__)


class SchemaMismatch(RuntimeError):
    """The database refuses the service's statements as a schema fault (not migrated): the service cannot work."""


class DatabaseReadiness:
    """What the last pass through the database says of it, kept for `/readyz` and in a 0/1 gauge."""

    def __init__(self, service: str, gauge: Gauge, consequence: str = "") -> None:
        """`consequence`: a sentence for the operator on what the fault left undone (e.g. nothing marked sent)."""
        self._service = service
        self._gauge = gauge
        self._consequence = consequence
        self.ready = False
        self.schema_problem: str | None = None

    def succeeded(self) -> None:
        """A pass went through."""
        self._set(True)

    def failed(self, error: Exception) -> None:
        """A pass failed: not ready while the database is away; `SchemaMismatch` for a schema fault."""
        fault = classify(error)
        if fault is DatabaseFault.SCHEMA:
            self._set(False)
            self.schema_problem = (
                f"the database refuses the {self._service}'s statements ({str(error).splitlines()[0][:300]}): is it "
                f"migrated to this version (`fleet migrate`)?{' ' + self._consequence if self._consequence else ''}"
            )
            logger.critical("%s", self.schema_problem)
            raise SchemaMismatch(self.schema_problem) from error
        if fault is DatabaseFault.UNAVAILABLE:
            self._set(False)

    def _set(self, ready: bool) -> None:
        self.ready = ready
        self._gauge.set(1 if ready else 0)
