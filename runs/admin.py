from django.contrib import admin

from runs.models import JobRun, Run


class JobRunInline(admin.TabularInline):
    model = JobRun
    extra = 0
    fields = ("name", "phase", "attempt", "started", "finished", "exit_code", "message")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs change phase only through runs.transitions, so the admin shows them read-only."""

    list_display = ("workflow", "number", "phase", "cluster", "reason", "created", "finished")
    list_filter = ("phase", "reason")
    inlines = [JobRunInline]
    readonly_fields = [field.name for field in Run._meta.fields]
