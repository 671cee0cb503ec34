"""Request and response bodies of the compliance module."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PERIOD_DESCRIPTION = "1-366 days; null: the deployment's default (FLEET_FILES_TACHOGRAPH_*_DAYS, the EU's)"


class TachographStatus(StrEnum):
    """Where a download stands: ok, due within 7 days, overdue, or never downloaded."""

    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    NEVER = "never"


class VehicleUnitOut(BaseModel):
    """The tachograph of a vehicle that needs one: its last download and the next one due."""

    device_id: str
    last_download_at: datetime | None = Field(
        description="End of the newest verified download (its offer when it has no end); null: never downloaded"
    )
    due_at: datetime = Field(description="The last download plus the period; never downloaded: its registration's")
    days_left: int = Field(description="Whole days until `due_at`; negative once overdue")
    status: TachographStatus


class DriverCardOut(BaseModel):
    """A driver card downloaded in one of your vehicles: its last download and the next one due."""

    driver_card_id: str
    device_id: str = Field(description="The vehicle the last download came from")
    last_download_at: datetime
    due_at: datetime
    days_left: int
    status: TachographStatus


class PeriodsOut(BaseModel):
    """The download periods in force for your tenant."""

    vehicle_unit_days: int
    driver_card_days: int


class TachographCompliance(BaseModel):
    """Vehicle units (by device id) and driver cards (by card number), with the periods they are measured by."""

    vehicle_units: list[VehicleUnitOut]
    driver_cards: list[DriverCardOut]
    periods: PeriodsOut


class PeriodsIn(BaseModel):
    """Your country's download periods, when they differ from the deployment's."""

    model_config = ConfigDict(extra="forbid")

    vehicle_unit_days: int | None = Field(ge=1, le=366, description=PERIOD_DESCRIPTION)
    driver_card_days: int | None = Field(ge=1, le=366, description=PERIOD_DESCRIPTION)
