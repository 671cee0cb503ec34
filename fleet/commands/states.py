"""The states of a command and the one rule of their order: states only move forward."""

from enum import StrEnum


class CommandState(StrEnum):
    """queued -> sent -> delivered -> done | failed | rejected; queued or sent -> expired; -> cancelled."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# How far along each state is: a command moves only to a state of a higher rank.
RANK = {
    CommandState.QUEUED: 0,
    CommandState.SENT: 1,
    CommandState.DELIVERED: 2,
    CommandState.DONE: 3,
    CommandState.FAILED: 3,
    CommandState.REJECTED: 3,
    CommandState.EXPIRED: 3,
    CommandState.CANCELLED: 3,
}
FINAL = frozenset(state for state, rank in RANK.items() if rank == 3)
# Not delivered yet: what can still expire or be cancelled.
OPEN = frozenset({CommandState.QUEUED, CommandState.SENT})


def moves_forward(current: str, target: CommandState) -> bool:
    """Whether a command in `current` may move to `target`."""
    return RANK[target] > RANK[CommandState(current)]
