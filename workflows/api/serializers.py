"""Request and answer shapes of teams, projects, workflows, datasets, clusters and secrets.

Answers use the camelCase names of the gradient tool and the status document
(`projectId`, `isCommitted`). Input serializers only check shapes; the
services decide everything else.
"""

from __future__ import annotations

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from workflows.models import Membership


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "must be a string"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SpecTextField(StrictCharField):
    """A spec's text: NUL and lone surrogates go through, for the validator to place.

    DRF's CharField refuses them with no position; the spec library reports
    each at its line and column, which is what the editor needs to mark it.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(
                validator, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
            )
        ]


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that refuses booleans, floats and text in a JSON body."""

    default_error_messages = {"invalid": "must be a whole number (an id)"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return super().to_internal_value(data)


# -- answers ---------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    userId = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    handle = serializers.CharField()
    created = serializers.DateTimeField()
    role = serializers.CharField(help_text="Your role in the team: owner or member.")


class TeamDetailSerializer(TeamSerializer):
    members = MemberSerializer(many=True, source="member_list")


class ProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    handle = serializers.CharField()
    teamId = serializers.IntegerField(source="team_id")
    created = serializers.DateTimeField()


class WorkflowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    projectId = serializers.IntegerField(source="project_id")
    created = serializers.DateTimeField()
    createdBy = serializers.CharField(source="created_by.username", default=None)
    hasDefaultSpec = serializers.SerializerMethodField()

    def get_hasDefaultSpec(self, workflow) -> bool:
        return workflow.default_spec_id is not None


class SpecTextSerializer(serializers.Serializer):
    spec = serializers.CharField(help_text="The spec's YAML text.")
    sha256 = serializers.CharField()


class DatasetVersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    isCommitted = serializers.BooleanField(source="is_committed")
    fileCount = serializers.IntegerField(source="file_count")
    size = serializers.IntegerField(help_text="Bytes.")
    message = serializers.CharField()
    # `producer` is runs.ProducedVersion's link back: the job is known above this
    # layer, so it is named here, not imported (None when no job made the version).
    producingJobId = serializers.IntegerField(source="producer.job_id", allow_null=True)
    created = serializers.DateTimeField()
    committed = serializers.DateTimeField(allow_null=True)


class DatasetSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    projectId = serializers.IntegerField(source="project_id")
    created = serializers.DateTimeField()


class DatasetDetailSerializer(DatasetSerializer):
    versions = DatasetVersionSerializer(many=True, source="version_list")


class DatasetFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")


class ClusterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    handle = serializers.CharField(help_text="What a spec's defaults.clusterId names.")
    name = serializers.CharField()
    kind = serializers.CharField()
    teamId = serializers.IntegerField(source="team_id")
    namespace = serializers.CharField()
    allowNetwork = serializers.BooleanField(source="allow_network")
    instanceTypes = serializers.SerializerMethodField()
    defaultInstanceType = serializers.CharField(source="default_instance_type")
    defaultJobTimeoutSeconds = serializers.IntegerField(
        source="default_job_timeout_seconds", allow_null=True
    )
    created = serializers.DateTimeField()

    def get_instanceTypes(self, cluster) -> list[str]:
        return sorted(cluster.instance_types or {})


class ClusterShapesSerializer(serializers.Serializer):
    """What PATCH /clusters/<id> changes; keys left out keep their value."""

    instanceTypes = serializers.JSONField(
        required=False,
        source="instance_types",
        help_text='Name -> {cpu, memory, gpu, pids, ...}, e.g. {"C4": {"cpu": "4", '
        '"memory": "8Gi"}}.',
    )
    defaultInstanceType = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, source="default_instance_type"
    )
    defaultJobTimeoutSeconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, source="default_job_timeout_seconds"
    )


class SecretSerializer(serializers.Serializer):
    """A secret as the API shows it: never its value."""

    name = serializers.CharField()
    scope = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


class SpecErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='Dot path, e.g. "jobs.train.with.args[2]".')
    line = serializers.IntegerField()
    column = serializers.IntegerField()
    message = serializers.CharField()
    hint = serializers.CharField(allow_null=True)
    document = serializers.ChoiceField(choices=["spec", "inputs"])


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = SpecErrorSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API."""

    detail = serializers.CharField(help_text="What went wrong and what to fix.")
    errors = SpecErrorSerializer(many=True, required=False)


# -- requests --------------------------------------------------------------


class ProjectCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    teamId = StrictIntegerField(help_text="A team you belong to.")


class WorkflowCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    projectId = StrictIntegerField()


class DatasetCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    projectId = StrictIntegerField()
    description = StrictCharField(max_length=5000, required=False, allow_blank=True, default="")


class SpecBodySerializer(serializers.Serializer):
    spec = SpecTextField(trim_whitespace=False, allow_blank=True, help_text="The spec's YAML text.")


class DatasetUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
    paths = serializers.ListField(
        child=StrictCharField(max_length=1000),
        required=False,
        help_text="Where each file goes in the version (sub-folders with '/'), in the order "
        "of `files`; the file's own name when left out.",
    )
    message = StrictCharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, data: dict) -> dict:
        paths = data.get("paths")
        if paths and len(paths) != len(data["files"]):
            raise serializers.ValidationError(
                {"paths": f"give one path per file ({len(data['files'])}), or none"}
            )
        return data


class SecretValueSerializer(serializers.Serializer):
    value = StrictCharField(
        write_only=True,
        trim_whitespace=False,
        max_length=65536,
        help_text="The secret's value; it is stored encrypted and never shown again.",
    )


class ListFilterSerializer(serializers.Serializer):
    team = serializers.IntegerField(required=False, min_value=1)
    project = serializers.IntegerField(required=False, min_value=1)


class MemberAddSerializer(serializers.Serializer):
    user = StrictCharField(help_text="The username or email address of the person to add.")
    role = serializers.ChoiceField(choices=Membership.Role.values, default="member")


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.values)
