"""The action catalog: what each ``uses: NAME@vN`` accepts in ``with``.

Engines read the same catalog (``ACTIONS``) to know what a job does; the
validator and the JSON Schema are generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .errors import Path, Problems, describe, did_you_mean, format_path, one_of
from .keys import SECRET_PREFIX
from .values import check_keys, check_secret_reference, expect_string, not_a_string

ParamType = Literal["string", "string-list", "string-or-list"]
SecretUse = Literal["no", "allowed", "required"]


@dataclass(frozen=True)
class Param:
    """One key of an action's ``with``."""

    name: str
    description: str
    required: bool = False
    type: ParamType = "string"
    secret: SecretUse = "no"
    """Whether the value may (or must) be a ``secret:NAME`` reference."""
    choices: tuple[str, ...] = ()
    prefix: str | None = None
    """A prefix the value must start with (``s3://``)."""
    multiline: bool = False


@dataclass(frozen=True, eq=False)
class Action:
    """One version of an action; each exists once, in the catalog, so identity is equality."""

    name: str
    version: int
    description: str
    params: tuple[Param, ...]
    writes_into_output: bool = False
    """Writes into the job's single volume or dataset output, or into ``path``."""
    registers_model: bool = False
    """Reads the dataset input ``model`` and writes the model id to the single string output."""

    @property
    def uses(self) -> str:
        """The ``uses:`` value for this action, e.g. ``container@v1``."""
        return f"{self.name}@v{self.version}"

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def required_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.required)

    def param(self, name: str) -> Param | None:
        for param in self.params:
            if param.name == name:
                return param
        return None


_OUTPUT_PATH = Param(
    "path",
    "Where to write, relative to /outputs; it must start with the name of one of the "
    "job's volume or dataset outputs. Needed when the job has several of them.",
)

_CATALOG = (
    Action(
        "container",
        1,
        "Runs a container image with the given command and arguments.",
        (
            Param("image", "Container image to run, e.g. bash:5.", required=True),
            Param("args", "Arguments, each a string.", type="string-list"),
            Param(
                "command",
                "Entrypoint override: a string or a list of strings.",
                type="string-or-list",
            ),
        ),
    ),
    Action(
        "script",
        1,
        "Runs a script with bash inside a container image.",
        (
            Param("image", "Container image that has bash, e.g. bash:5.", required=True),
            Param("script", "The script; usually a multi-line string (|-).", True, multiline=True),
        ),
    ),
    Action(
        "git-checkout",
        1,
        "Clones a git repository into the job's volume or dataset output.",
        (
            Param("url", "Repository URL to clone.", required=True),
            Param("ref", "Commit, branch or tag to check out."),
            _OUTPUT_PATH,
            Param("username", "User name for a private repository.", secret="allowed"),
            Param(
                "password",
                "Password or token for a private repository; must be secret:NAME.",
                secret="required",
            ),
        ),
        writes_into_output=True,
    ),
    Action(
        "s3-download",
        1,
        "Copies the objects under an S3 prefix into the job's volume or dataset output.",
        (
            Param("url", "s3://bucket/prefix/ to copy from.", required=True, prefix="s3://"),
            Param("access-key", "Access key id.", required=True, secret="allowed"),
            Param(
                "secret-access-key",
                "Secret access key; must be secret:NAME.",
                required=True,
                secret="required",
            ),
            Param("region", "Bucket region, e.g. us-east-1."),
            Param("endpoint", "Endpoint URL of an S3-compatible store."),
            _OUTPUT_PATH,
        ),
        writes_into_output=True,
    ),
    Action(
        "create-model",
        1,
        "Registers a model from the job's dataset input named `model`; writes the "
        "model's id to its single string output.",
        (
            Param("name", "Name of the model.", required=True),
            Param(
                "type",
                "Model type; Custom when omitted.",
                choices=("Tensorflow", "ONNX", "Custom"),
            ),
        ),
        registers_model=True,
    ),
)

ACTIONS: MappingProxyType[str, MappingProxyType[int, Action]] = MappingProxyType(
    {
        name: MappingProxyType({a.version: a for a in _CATALOG if a.name == name})
        for name in dict.fromkeys(a.name for a in _CATALOG)
    }
)
"""Action name -> version -> Action."""

ACTION_USES: tuple[str, ...] = tuple(a.uses for a in _CATALOG)

_ALLOWED = {action: {p.name: p.description for p in action.params} for action in _CATALOG}


def all_actions() -> tuple[Action, ...]:
    """Every action version, in catalog order."""
    return _CATALOG


def check_params(action: Action, value: object, path: Path, problems: Problems) -> dict | None:
    """Check a job's ``with`` against ``action``; ``path`` is the path of ``with``.

    Returns the params that were usable (possibly partial) or None when ``with``
    is not a mapping.
    """
    if not isinstance(value, dict):
        problems.add(path, f"{format_path(path)} must be a mapping, not {describe(value)}")
        return None
    allowed = _ALLOWED[action]
    for key in value:
        if key not in allowed:
            check_keys(value, allowed, path, problems)
            break
    for param in action.params:
        if param.name in value:
            _check_param(param, value[param.name], path, problems)
        elif param.required:
            problems.add(
                (*path, param.name),
                f"{action.uses} needs `{param.name}` in `with` ({param.description})",
                at="parent",
            )
    return value


def _check_param(param: Param, value: object, parent: Path, problems: Problems) -> None:
    if param.type == "string":
        if (
            value.__class__ is str
            and value.strip()
            and not param.secret != "no"
            and not param.choices
            and not param.prefix
        ):
            return
    elif param.type == "string-list" or value.__class__ is list:
        if value.__class__ is list and all(item.__class__ is str for item in value):
            return
    elif value.__class__ is str:
        return
    _check_param_slowly(param, value, (*parent, param.name), problems)


def _check_param_slowly(param: Param, value: object, path: Path, problems: Problems) -> None:
    where = format_path(path)
    if param.type == "string-list":
        if not isinstance(value, list):
            problems.add(
                path,
                f"{where} must be a list of strings, not {describe(value)}",
                'e.g. args: ["bash", "-c", "echo hi"]',
            )
            return
        _check_items(value, path, problems)
        return
    if param.type == "string-or-list":
        if isinstance(value, list):
            _check_items(value, path, problems)
        elif not isinstance(value, str):
            problems.add(
                path, f"{where} must be a string or a list of strings, not {describe(value)}"
            )
        return
    text = expect_string(value, path, problems)
    if text is None:
        return
    if param.secret != "no" and text.startswith(SECRET_PREFIX):
        check_secret_reference(text, path, problems)
        return
    if param.secret == "required":
        problems.add(
            path,
            f"{where} must be a secret reference like secret:NAME, not a literal value; "
            "store the value as a secret (gradient secrets set) and refer to it by name",
        )
        return
    if param.choices and text not in param.choices:
        problems.add(
            path,
            f'{where} "{text}" is not one of {one_of(param.choices)}',
            did_you_mean(text, param.choices),
        )
    if param.prefix and not (text.startswith(param.prefix) and len(text) > len(param.prefix)):
        problems.add(
            path,
            f'{where} must start with "{param.prefix}", e.g. {param.prefix}bucket/prefix/',
        )


def _check_items(items: list, path: Path, problems: Problems) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, str):
            item_path = (*path, index)
            problems.add(item_path, not_a_string(item, item_path, problems))
