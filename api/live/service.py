"""Rules of the live module."""

from sqlalchemy.orm import Session

from api.live import repository
from api.live.schemas import LiveItem, LiveList, StateOut, live_can, live_position


def state_of(session: Session, vehicle_id: int) -> StateOut | None:
    """Latest state of a vehicle the caller already owns, or None before it has reported anything."""
    state = repository.state_of(session, vehicle_id)
    return StateOut.from_row(state) if state is not None else None


def live(session: Session, tenant_id: int) -> LiveList:
    """Latest state of each of the tenant's vehicles that has one."""
    return LiveList(
        items=[
            LiveItem(
                device_id=device_id,
                label=label,
                online=state.online,
                position=live_position(state),
                can=live_can(state),
                status_ts=state.status_ts,
            )
            for device_id, label, state in repository.tenant_states(session, tenant_id)
        ]
    )
