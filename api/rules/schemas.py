"""Response bodies of the rules module."""

from typing import Any

from pydantic import BaseModel, Field


class GroupRuleOut(BaseModel):
    """A vehicle group's override of a detector's rule."""

    group: str
    override: dict[str, Any] = Field(description="The fields the group sets, over the tenant's rule")
    effective: dict[str, Any] = Field(description="The rule of a vehicle whose first group (by name) with one is this")


class RuleOut(BaseModel):
    """One detector's rule: its defaults, your tenant's override, the result, and your groups' overrides."""

    detector: str
    defaults: dict[str, Any]
    override: dict[str, Any] | None = Field(description="The fields your tenant sets; null: the defaults hold")
    effective: dict[str, Any] = Field(description="Defaults and override: the rule of a vehicle no group overrides")
    groups: list[GroupRuleOut] = Field(description="Group overrides, by group name")


class RuleList(BaseModel):
    """Every detector's rule."""

    items: list[RuleOut]
