"""Request and response bodies of the admin module."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.vehicles.schemas import GROUP_NAME_DESCRIPTION, VehicleOut
from fleet.db.models import ApiToken
from fleet.registry.service import (
    GROUP_NAME_REGEX,
    MAX_GROUP_LENGTH,
    MAX_GROUPS,
    MAX_LABEL_LENGTH,
    MAX_PLATE_LENGTH,
)
from fleet.tenancy.roles import Role
from fleet.tenancy.service import MAX_TOKEN_LIFETIME, MAX_TOKEN_NAME_LENGTH, TOKEN_NAME_REGEX, token_name

DeviceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="1-64 of A-Z a-z 0-9 _ -")]
Label = Annotated[str | None, Field(max_length=MAX_LABEL_LENGTH)]
Plate = Annotated[str | None, Field(max_length=MAX_PLATE_LENGTH)]
GroupName = Annotated[
    str, Field(max_length=MAX_GROUP_LENGTH, pattern=f"^{GROUP_NAME_REGEX}$", description=GROUP_NAME_DESCRIPTION)
]
Groups = Annotated[
    list[GroupName] | None,
    Field(max_length=MAX_GROUPS, description=f"The vehicle's groups: at most {MAX_GROUPS} names, kept sorted"),
]
# One request registers, changes or deletes at most this many vehicles.
MAX_BULK = 1000


class TokenIn(BaseModel):
    """A token to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        max_length=MAX_TOKEN_NAME_LENGTH,
        pattern=f"^{TOKEN_NAME_REGEX}$",
        description="1-100 of A-Z a-z 0-9 . _ -, not only digits; unique within your tenant, revoked tokens included",
    )
    role: Role = Field(description="`viewer` reads; `operator` also acts on vehicles; `admin` also manages")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_TOKEN_LIFETIME.days, description="Omit for a token that does not expire"
    )


class TokenOut(BaseModel):
    """An API token, without its secret."""

    id: int
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded at most once a minute")

    @classmethod
    def from_row(cls, token: ApiToken) -> "TokenOut":
        """Build from an api_tokens row."""
        return cls(
            id=token.id,
            name=token_name(token),
            role=Role(token.role),
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class TokenCreated(TokenOut):
    """A new token with its secret."""

    token: str = Field(description="The bearer token, shown this once: only its hash is stored")


class TokenList(BaseModel):
    """Every token of your tenant, revoked and expired ones included, oldest first."""

    items: list[TokenOut]


class VehicleIn(BaseModel):
    """A vehicle to register."""

    model_config = ConfigDict(extra="forbid")

    device_id: DeviceId
    label: Label = None
    plate: Plate = None
    groups: Groups = None


VehicleBatch = Annotated[list[VehicleIn], Field(min_length=1, max_length=MAX_BULK)]


class VehiclePatch(BaseModel):
    """Fields of a vehicle to change: an omitted field is left as it is, null clears it.

    `groups` replaces the vehicle's set of groups; null or an empty list takes it out of every group.
    """

    model_config = ConfigDict(extra="forbid")

    label: Label = None
    plate: Plate = None
    tachograph_required: bool = Field(
        default=True, description="false: exempt from tachograph downloads (EU 561/2006 art. 3a); null is refused"
    )
    groups: Groups = None


class VehicleUpdate(VehiclePatch):
    """One vehicle of a bulk change: its device id and the fields to change, as in a single change."""

    device_id: str = Field(description="One of your vehicles; an unknown id is a 404 and nothing changes")


class VehicleUpdates(BaseModel):
    """Vehicles to change, each at most once."""

    model_config = ConfigDict(extra="forbid")

    vehicles: list[VehicleUpdate] = Field(min_length=1, max_length=MAX_BULK)


class VehiclesUpdated(BaseModel):
    """The changed vehicles, in the order of the request."""

    items: list[VehicleOut]


class VehicleIds(BaseModel):
    """Vehicles to delete."""

    model_config = ConfigDict(extra="forbid")

    device_ids: list[str] = Field(min_length=1, max_length=MAX_BULK)


class DeletedVehicles(BaseModel):
    """What a bulk delete removed."""

    deleted: list[str] = Field(description="Device ids of the deleted vehicles")


class CredentialOut(BaseModel):
    """A unit's broker credential: username and client id are the device id; the password is shown this once."""

    device_id: str
    password: str = Field(description="Shown only in this answer; only a hash of it is kept")


class VehiclesCreated(BaseModel):
    """Registered vehicles, with their broker credentials when this deployment issues them."""

    items: list[VehicleOut]
    credentials: list[CredentialOut] = Field(
        description="One per vehicle, shown this once; empty when the broker's credentials are managed elsewhere"
    )
