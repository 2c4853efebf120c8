"""Who may do what, once a selector has shown that the user can see the thing at all.

Seeing is membership of the thing's team: the selectors return nothing for
anyone else, and the views answer 404 (a 403 would tell an outsider that the
thing exists). Among members, only owners delete.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from workflows.models import Membership


class OwnersMayDelete(BasePermission):
    """DELETE needs the `owner` role that the selectors annotate objects with as `role`."""

    message = "only an owner of the team may delete this; ask one of the team's owners"

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method != "DELETE":
            return True
        return getattr(obj, "role", None) == Membership.Role.OWNER
