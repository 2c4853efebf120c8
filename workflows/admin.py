from django.contrib import admin

from workflows.models import Membership, Project, Team


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
