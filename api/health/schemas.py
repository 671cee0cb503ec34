"""Response bodies of the health module."""

from typing import Literal

from pydantic import BaseModel


class StatusOut(BaseModel):
    """The service is able to serve."""

    status: Literal["ok"] = "ok"
