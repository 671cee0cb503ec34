"""Each role includes the ones below it: admin > operator > viewer."""

import pytest

from fleet.tenancy.roles import Role


@pytest.mark.parametrize(
    ("role", "included"),
    [
        (Role.VIEWER, {Role.VIEWER}),
        (Role.OPERATOR, {Role.VIEWER, Role.OPERATOR}),
        (Role.ADMIN, {Role.VIEWER, Role.OPERATOR, Role.ADMIN}),
    ],
)
def test_a_role_includes_itself_and_the_roles_below(role: Role, included: set[Role]) -> None:
    assert {other for other in Role if role.includes(other)} == included
