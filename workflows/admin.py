from django.contrib import admin

from workflows.models import (
    ApiKey,
    Cluster,
    ContainerRegistry,
    Dataset,
    DatasetVersion,
    Membership,
    Project,
    RegisteredModel,
    Secret,
    StoredSpec,
    Team,
    Workflow,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "handle", "created")
    search_fields = ("name", "handle")
    inlines = [MembershipInline]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "handle", "team", "created")
    list_filter = ("team",)
    search_fields = ("name", "handle")


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ("name", "handle", "kind", "team")
    list_filter = ("kind",)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created")
    search_fields = ("name",)
    raw_id_fields = ("default_spec",)


@admin.register(StoredSpec)
class StoredSpecAdmin(admin.ModelAdmin):
    list_display = ("sha256", "created")
    readonly_fields = ("sha256", "text", "parsed", "created")


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    """Names and scopes only: the value is write-only everywhere, the admin included."""

    list_display = ("name", "scope", "team", "project", "cluster", "updated")
    list_filter = ("scope",)
    fields = ("name", "scope", "team", "project", "cluster", "created", "updated")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(ContainerRegistry)
class ContainerRegistryAdmin(admin.ModelAdmin):
    """No password field: it is set through the API or the project page, never shown."""

    list_display = ("name", "server", "username", "team", "updated")
    fields = ("name", "server", "username", "team", "created", "updated")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    extra = 0
    fields = ("version", "is_committed", "file_count", "size", "created")
    readonly_fields = fields


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "project", "created")
    inlines = [DatasetVersionInline]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "model_type", "project", "created")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created", "last_used")
    fields = ("name", "prefix", "user", "created", "last_used")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False
