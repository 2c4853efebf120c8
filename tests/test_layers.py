"""Imports go one way: gradient/api < workflows < runs < triggers < dashboard.

A package may use what is below it and never what is above it: not in an
import (at the top of a module or inside a function), not in a model's
relation, not in a migration's dependencies. The rest of gradient/ (settings,
URLs, ASGI routing, the Celery app, the CLI's API) wires every app together
and stands outside this order.
"""

import ast

import pytest
from django.apps import apps
from django.db.migrations.loader import MigrationLoader

from tests.paths import REPO

ORDER = ["workflows", "runs", "triggers", "dashboard"]
# What each layer must not use: everything above it.
FORBIDDEN = {
    "gradient/api": set(ORDER),
    **{layer: set(ORDER[index + 1 :]) for index, layer in enumerate(ORDER)},
}


def _imported(tree: ast.AST) -> set[str]:
    """The top-level package of every absolute import in a module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _uses_above(folder: str) -> list[str]:
    found = []
    for path in sorted((REPO / folder).rglob("*.py")):
        above = _imported(ast.parse(path.read_text(), str(path))) & FORBIDDEN[folder]
        found.extend(f"{path.relative_to(REPO)} imports {name}" for name in sorted(above))
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(folder):
    assert _uses_above(folder) == []


def test_the_check_sees_an_import_inside_a_function():
    tree = ast.parse("def f():\n    from runs.models import Run\n    import dashboard.views\n")
    assert _imported(tree) == {"runs", "dashboard"}


@pytest.mark.parametrize("layer", ORDER[:-1])
def test_a_layers_models_point_only_below_it(layer):
    relations = [
        f"{model.__name__}.{field.name} -> {field.related_model._meta.label}"
        for model in apps.get_app_config(layer).get_models()
        for field in model._meta.get_fields()
        if field.is_relation
        and not field.auto_created
        and field.related_model._meta.app_label in FORBIDDEN[layer]
    ]
    assert relations == []


@pytest.mark.parametrize("layer", ORDER[:-1])
def test_a_layers_migrations_depend_only_on_what_is_below_it(layer):
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    dependencies = [
        f"{layer}.{name} needs {parent.key[0]}.{parent.key[1]}"
        for (app, name), node in graph.node_map.items()
        if app == layer
        for parent in node.parents
        if parent.key[0] in FORBIDDEN[layer]
    ]
    assert dependencies == []


def test_every_layer_is_a_folder_of_the_repository():
    assert all((REPO / folder).is_dir() for folder in FORBIDDEN)
