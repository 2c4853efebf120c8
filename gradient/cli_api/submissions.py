"""`gradient workflows run` sends parsed YAML; run submission wants text and explains errors.

The CLI reads the spec file with PyYAML (YAML 1.1) and posts the resulting
object as JSON, so the text the user wrote never reaches us. We write it back
as YAML in the style people write specs in (block style, lists indented under
their key, `|` blocks for multi-line strings), so a spec written that way
without comments or blank lines keeps its line numbers in error messages.
"""

from __future__ import annotations

import re

import yaml

from runs.services import SubmissionError
from workflows.spec import SpecError
from workflows.spec.yaml_source import MAX_DEPTH

# YAML 1.1 reads the key `on` as the boolean true; json.dumps then writes it as "true".
_ON_KEYS = ("true", True)
# PyYAML quotes the key `on` for the same reason; our loader reads it unquoted as the
# string, as people write it. In block style only top-level keys start a line.
_QUOTED_TOP_LEVEL_ON = re.compile(r"^'on':", re.MULTILINE)

# Errors that run submission raises about the request rather than a place in the
# spec (the cluster, a missing default spec) carry a placeholder position.
_PATHS_OUTSIDE_SPEC = frozenset({"clusterId", "spec"})


class _SpecDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SpecDumper.add_representer(str, _represent_str)


def spec_text_from_cli(spec: object) -> str | None:
    """YAML text of the spec the CLI sent; None (run the default spec) when it sent none.

    Text is taken as is, so other clients may post the YAML itself. Anything
    else is written out and left to the validator, which says what is wrong.
    """
    if spec is None or isinstance(spec, str):
        return spec
    if _nests_deeper_than(spec, MAX_DEPTH):
        # The dumper recurses per level; the validator would refuse this depth anyway.
        message = f"the spec nests more than {MAX_DEPTH} levels deep"
        raise SubmissionError([SpecError("", 1, 1, message)])
    if isinstance(spec, dict):
        spec = {("on" if key in _ON_KEYS else key): value for key, value in spec.items()}
    text = yaml.dump(
        spec, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return _QUOTED_TOP_LEVEL_ON.sub("on:", text)


def _nests_deeper_than(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def submission_error_message(error: SubmissionError) -> str:
    """Every error of a refused run on its own line, with its path and, in the spec, its line."""
    lines = []
    for problem in error.errors:
        message = f"{problem.message} ({problem.hint})" if problem.hint else problem.message
        if error.document != "spec" or problem.path in _PATHS_OUTSIDE_SPEC:
            # The inputs document is re-serialized from the CLI's object: its
            # line numbers would point into text the user never saw.
            where = problem.path or error.document
        elif problem.path:
            where = f"{problem.path} (line {problem.line}, column {problem.column})"
        else:
            where = f"line {problem.line}, column {problem.column}"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)
