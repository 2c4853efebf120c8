"""URLs of git-linked projects: GitHub's webhook, and the repository link's API."""

from django.urls import path

from triggers import views

urlpatterns = [
    path("hooks/github/<str:handle>", views.github_webhook, name="git-webhook"),
    path(
        "api/v1/projects/<str:handle>/repository",
        views.ProjectRepositoryView.as_view(),
        name="api-project-repository",
    ),
    path(
        "api/v1/projects/<str:handle>/triggers",
        views.PushTriggerListView.as_view(),
        name="api-project-triggers",
    ),
]
