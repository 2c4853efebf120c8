"""The REST API's side of workflows.access: one permission class that asks `can`.

Seeing is membership of the thing's team: the selectors (through
`access.visible_to`) return nothing for anyone else, and the views answer 404
(a 403 would tell an outsider that the thing exists). What a member may then
do is the view's `actions` (HTTP method -> access.Action; reads default to
VIEW), checked against the object the view found with
`self.check_object_permissions(request, obj)`.

`ApiView`, the base of every API view of the apps, is gradient.api's
BaseApiView with this policy; it lives here, not in gradient/api/, because the
policy is workflows.access's and gradient/api/ imports none of the apps.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated

from gradient.api.base import BaseApiView
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


# The docstring is the schema's description of every operation that has none
# of its own (drf-spectacular reads it), so it stays as the API has shown it.
class ApiView(BaseApiView):
    """The base of every API view: JSON in, JSON (or the browsable API) out."""

    permission_classes = [IsAuthenticated, TeamPolicy]
    # HTTP method -> the workflows.access.Action it needs on the object the view finds.
    actions: dict = {}

    def action_for(self, request, obj):
        """The access.Action this request needs on `obj` (TeamPolicy asks; None: not declared)."""
        return self.actions.get(request.method)
