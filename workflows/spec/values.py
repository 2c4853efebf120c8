"""Checks shared by the spec validator and the run-inputs reader.

Each check records problems and returns the usable value (or None), so callers
can go on validating the rest of the document.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import Path, Problems, describe, did_you_mean, format_path, one_of, quoted_example
from .keys import (
    DATASET_REF_RE,
    DATASET_WITH_KEYS,
    MAX_NAME_LENGTH,
    NAME_RE,
    SECRET_NAME_RE,
    SECRET_PREFIX,
    STRING_WITH_KEYS,
    VALUE_TYPES,
)


def expect_mapping(value: object, path: Path, problems: Problems, example: str = "") -> bool:
    """True if ``value`` is a mapping; records a problem otherwise."""
    if isinstance(value, dict):
        return True
    message = f"{format_path(path) or 'the document'} must be a mapping, not {describe(value)}"
    if example:
        message += f", e.g. {example}"
    problems.add(path, message)
    return False


def expect_string(
    value: object, path: Path, problems: Problems, *, non_empty: bool = True
) -> str | None:
    """``value`` if it is a (non-empty) string; records a problem otherwise."""
    if isinstance(value, str):
        if non_empty and not value.strip():
            problems.add(path, f"{format_path(path)} must not be empty")
            return None
        return value
    problems.add(path, not_a_string(value, path, problems))
    return None


def not_a_string(value: object, path: Path, problems: Problems) -> str:
    """The message for a value that should have been a string, saying how to quote it."""
    where = format_path(path)
    example = quoted_example(problems.source(path), value)
    if example is None:
        return f"{where} must be a string, not {describe(value)}"
    return (
        f"{where} must be a string; quote it, e.g. {example} "
        f"(unquoted, YAML reads it as {describe(value)})"
    )


def check_keys(
    mapping: Mapping[str, object],
    allowed: Mapping[str, str],
    path: Path,
    problems: Problems,
    advice: Mapping[str, str] | None = None,
) -> None:
    """Report keys of ``mapping`` that are not in ``allowed``, with a suggestion.

    ``advice`` maps keys people often write by mistake to the whole message.
    """
    if mapping.keys() <= allowed.keys():
        return
    for key in mapping:
        if key in allowed:
            continue
        where = format_path(path) or "the top level"
        message = advice.get(key) if advice else None
        if message:
            problems.add((*path, key), message, at="key")
            continue
        problems.add(
            (*path, key),
            f'unknown key "{key}" in {where}; allowed keys are {one_of(list(allowed))}',
            did_you_mean(key, allowed),
            at="key",
        )


def check_name(name: str, path: Path, problems: Problems, what: str) -> bool:
    """Job, input and output names: letters, digits, '-' and '_'."""
    if NAME_RE.match(name) and len(name) <= MAX_NAME_LENGTH:
        return True
    if not name:
        problem = "is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"is longer than {MAX_NAME_LENGTH} characters"
    else:
        bad = sorted({c for c in name if not NAME_RE.match(c)})
        shown = " ".join(repr(c) for c in bad[:5])
        problem = f"contains {shown}"
    problems.add(
        path,
        f'{what} name "{name}" {problem}; use only letters, digits, "-" and "_"',
        at="key",
    )
    return False


def secret_name(value: str) -> str | None:
    """NAME of a ``secret:NAME`` reference, or None if ``value`` is not one."""
    if value.startswith(SECRET_PREFIX):
        return value[len(SECRET_PREFIX) :]
    return None


def check_secret_reference(value: str, path: Path, problems: Problems) -> str | None:
    """The secret name in a ``secret:NAME`` value, after checking NAME is usable."""
    name = secret_name(value)
    if name is None:
        return None
    if not name:
        problems.add(path, '"secret:" needs the name of a secret, e.g. secret:api-token')
        return None
    if not SECRET_NAME_RE.match(name):
        problems.add(
            path,
            f'"{name}" is not a valid secret name; use letters, digits, "-", "_" and ".", '
            'starting with a letter, digit or "_"',
        )
        return None
    return name


def check_type(value: object, path: Path, problems: Problems) -> str | None:
    """A ``type:`` value: dataset, string or volume."""
    if value.__class__ is str and value in VALUE_TYPES:
        return value
    if isinstance(value, str):
        problems.add(
            path,
            f'{format_path(path)} "{value}" is not a type; use {one_of(VALUE_TYPES)}',
            did_you_mean(value, VALUE_TYPES),
        )
    else:
        problems.add(
            path,
            f"{format_path(path)} must be one of {one_of(VALUE_TYPES)}, not {describe(value)}",
        )
    return None


def check_dataset_ref(
    value: object, path: Path, problems: Problems, *, allow_version: bool = True
) -> str | None:
    """A dataset ref: NAME, NAME:VERSION or NAMESPACE/NAME:VERSION."""
    ref = expect_string(value, path, problems)
    if ref is None:
        return None
    if not DATASET_REF_RE.match(ref):
        problems.add(
            path,
            f'{format_path(path)} "{ref}" is not a dataset reference; write NAME, '
            "NAME:VERSION or NAMESPACE/NAME:VERSION",
        )
        return None
    if not allow_version and ":" in ref:
        problems.add(
            path,
            f'{format_path(path)} "{ref}" names a version, but an output commits a new '
            f"version; write ref: {ref.rsplit(':', 1)[0]}",
        )
        return None
    return ref


def check_typed_with(
    kind: str,
    value: object,
    path: Path,
    problems: Problems,
    *,
    present: bool,
    name: str,
    output: bool = False,
    required: bool = True,
) -> dict | None:
    """Check the ``with`` of a typed value and return it normalized.

    dataset -> ``{"ref": ...}`` (``id`` accepted as a synonym), string ->
    ``{"value": ...}``, volume -> ``{}``. ``path`` is the path of ``with``
    itself, ``present`` says whether the key is there and ``name`` is the name
    of the input or output, for messages. Without ``required`` a missing
    ``with`` is fine and gives None. Of outputs only datasets take a ``with``.
    """
    if present and value.__class__ is dict and len(value) == 1:
        # The common, valid shapes, without building any message.
        if kind == "dataset":
            ref = value.get("ref", value.get("id"))
            if (
                ref.__class__ is str
                and DATASET_REF_RE.match(ref)
                and (not output or ":" not in ref)
            ):
                return {"ref": ref}
        elif kind == "string" and not output:
            text = value.get("value")
            if text.__class__ is str:
                return {"value": text}
    takes_none = kind == "volume" or (output and kind == "string")
    what = f'{"output" if output else "input"} "{name}"'
    example = "{ref: NAME}" if kind == "dataset" else '{value: "..."}'
    if not present:
        if takes_none:
            return {}
        if required:
            problems.add(path, f"{what} is a {kind} and needs `with: {example}`", at="parent")
        return None
    if takes_none:
        if value is None or value == {}:
            return {}
        problems.add(path, f"{what} is a {kind} and takes no `with`; remove it", at="key")
        return None
    if not isinstance(value, dict):
        expect_mapping(value, path, problems, example)
        return None
    if kind == "dataset":
        check_keys(value, DATASET_WITH_KEYS, path, problems)
        if "ref" in value and "id" in value:
            problems.add((*path, "id"), "give either ref or id, not both", at="key")
            return None
        key = "ref" if "ref" in value else "id" if "id" in value else None
        if key is None:
            problems.add((*path, "ref"), f"{what} needs `ref: NAME` in `with`", at="parent")
            return None
        ref = check_dataset_ref(value[key], (*path, key), problems, allow_version=not output)
        return None if ref is None else {"ref": ref}
    check_keys(value, STRING_WITH_KEYS, path, problems)
    if "value" not in value:
        problems.add((*path, "value"), f'{what} needs `value: "..."` in `with`', at="parent")
        return None
    text = expect_string(value["value"], (*path, "value"), problems, non_empty=False)
    return None if text is None else {"value": text}
