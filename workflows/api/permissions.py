"""The REST API's side of workflows.access: one permission class that asks `can`.

Seeing is membership of the thing's team: the selectors (through
`access.visible_to`) return nothing for anyone else, and the views answer 404
(a 403 would tell an outsider that the thing exists). What a member may then
do is the view's `actions` (HTTP method -> access.Action; reads default to
VIEW), checked against the object the view found with
`self.check_object_permissions(request, obj)`. Every ApiView has this class.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from workflows.access import Action, can, refusal


class TeamPolicy(BasePermission):
    """The view's action for this method must be allowed by the user's role (access.ROLES)."""

    message = "your role in the team does not allow this"

    def has_object_permission(self, request, view, obj) -> bool:
        action = view.action_for(request, obj)
        if action is None and request.method in SAFE_METHODS:
            action = Action.VIEW
        if action is None:
            # A write whose view names no action is refused rather than guessed at.
            self.message = f"{request.method} names no action of the access policy"
            return False
        if can(request.user, action, obj):
            return True
        self.message = refusal(action)
        return False
