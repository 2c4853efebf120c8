"""Forms of the dashboard's few writes: projects, workflows, secrets, registries, members,
API keys."""

from django import forms

from runs.services import RERUN_SPECS
from workflows.models import Membership


class ProjectForm(forms.Form):
    team = forms.TypedChoiceField(coerce=int)
    name = forms.CharField(max_length=200)

    def __init__(self, *args, teams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(team.pk, team.name) for team in teams]


class WorkflowForm(forms.Form):
    name = forms.CharField(max_length=200)


class SecretForm(forms.Form):
    name = forms.CharField(max_length=200)
    value = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False)


class MemberAddForm(forms.Form):
    user = forms.CharField(max_length=254, label="Username or email")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=200)


class ContainerRegistryForm(forms.Form):
    name = forms.CharField(max_length=200)
    server = forms.CharField(max_length=255)
    username = forms.CharField(max_length=200)
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), strip=False)


class RerunForm(forms.Form):
    spec = forms.ChoiceField(choices=[(choice, choice) for choice in RERUN_SPECS])


def first_error(form: forms.Form) -> str:
    """The form's first problem as one sentence, for a flash message."""
    for name, errors in form.errors.items():
        label = "" if name == "__all__" else f"{name}: "
        return f"{label}{errors[0]}"
    return "the form is incomplete"
