"""Reading YAML into plain data, reporting every problem with its position.

We read PyYAML's event stream (from libyaml when it is there) and build plain
Python values ourselves instead of using PyYAML's constructor, because the
constructor silently keeps the last of two duplicate keys, turns the key
``on`` into ``True`` and expands aliases without bound. Building from events
also avoids a node tree with two position objects per value, which for a
1,000-job spec costs more than everything else put together.

Positions of what the reader itself reports (duplicate keys, odd tags) come
from the events; positions of what the validator reports later are looked up
by path with a :class:`~.yaml_locate.Locator`, only when there is an error.
"""

from __future__ import annotations

import base64
import datetime
import math
from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from .errors import SpecError, describe, format_path, sort_errors
from .yaml_errors import invalid_characters, mark_position, syntax_error
from .yaml_locate import (
    BOOL_TAG,
    MAP_TAG,
    MERGE_TAG,
    RESOLVED_TAGS,
    SEQ_TAG,
    STR_TAG,
    BaseLoader,
    Locator,
    resolve_plain,
)

NULL_TAG = "tag:yaml.org,2002:null"
VALUE_TAG = "tag:yaml.org,2002:value"

MAX_DEPTH = 100
"""Deepest nesting we read; real specs nest about eight levels."""

MAX_EXPANDED_VALUES = 500_000
"""Bound on the values a document may expand to through aliases (billion laughs)."""

MAX_TEXT_CHARS = 16 * 1024 * 1024

_CONSTRUCTOR = SafeConstructor()
_SCALAR_CONSTRUCTORS = {
    tag: fn
    for tag, fn in SafeConstructor.yaml_constructors.items()
    if tag is not None
    and tag not in (STR_TAG, SEQ_TAG, MAP_TAG)
    and not tag.endswith((":set", ":omap", ":pairs"))
}
_CONSTRUCTED: dict[tuple[str, str], object] = {}
_CACHE_LIMIT = 50_000

_SKIP = object()  # the key was unusable: drop the value that follows
_MERGE = object()  # the key was <<: merge the value into this mapping
_IN_PROGRESS = object()  # an anchored collection that is still being read
_MISSING = object()


@dataclass
class Loaded:
    """One YAML document read into plain Python data.

    ``data`` is None when the document is empty or could not be read
    (``aborted``: a syntax error, forbidden characters, an alias bomb).
    """

    text: str
    data: object = None
    errors: list[SpecError] = field(default_factory=list)
    aborted: bool = False
    has_non_json: bool = False
    locator: Locator | None = None

    def json_data(self) -> object:
        """``data`` with dates, binary values and non-finite floats as strings."""
        if not self.has_non_json:
            return self.data
        return _json_safe(self.data)


def _json_safe(value: object) -> object:
    memo: dict[int, object] = {}

    def convert(item: object) -> object:
        if isinstance(item, dict | list):
            if id(item) in memo:
                return memo[id(item)]
            if isinstance(item, dict):
                out: dict | list = memo.setdefault(id(item), {})
                out.update((k, convert(v)) for k, v in item.items())
            else:
                out = memo.setdefault(id(item), [])
                out.extend(convert(v) for v in item)
            return out
        if isinstance(item, datetime.date):
            return item.isoformat()
        if isinstance(item, bytes):
            return base64.b64encode(item).decode("ascii")
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        return item

    return convert(value)


class _Stop(Exception):
    """The document cannot be read further; carries the one error to report."""

    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _Reader:
    """Builds plain data from PyYAML events, by recursive descent.

    The loops in :meth:`_mapping` and :meth:`_sequence` handle the common case
    (plain scalars without tags or anchors, nested collections) inline; the
    rest goes through :meth:`_node`. Problems are recorded with their mark;
    paths are found later, and only if there are problems.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.get = None
        self.problems: list[tuple[yaml.Mark, str]] = []
        self.duplicates: list[tuple[yaml.Mark, str]] = []
        self.has_non_json = False
        self.anchors: dict[str, object] = {}
        self.anchor_marks: dict[str, yaml.Mark] = {}
        self.measured: dict[int, tuple[int, int]] = {}
        self.expanded = 0

    def read(self) -> object:
        loader = BaseLoader(self.text)
        try:
            self.get = loader.get_event
            self.get()  # stream start
            event = self.get()
            if event is None or event.__class__ is StreamEndEvent:
                return None
            value = self._node(self.get(), 0)
            self.get()  # document end
            event = self.get()
            if event is not None and event.__class__ is DocumentStartEvent:
                raise _Stop(
                    event.start_mark,
                    "the spec must be a single YAML document; remove this '---' and what "
                    "follows, or keep each spec in its own file",
                )
            return value
        finally:
            loader.dispose()

    def _node(self, event: yaml.Event, depth: int) -> object:
        cls = event.__class__
        if cls is ScalarEvent:
            tag = event.tag
            value = event.value
            if tag is None:
                if event.implicit[0]:
                    tag = resolve_plain(value)
                    if tag != STR_TAG:
                        value = self._scalar(tag, event)
            elif tag != "!" and tag != STR_TAG:
                value = self._scalar(tag, event)
            if event.anchor is not None:
                self._anchor(event, value)
            return value
        if cls is MappingStartEvent:
            return self._mapping(event, depth + 1)
        if cls is SequenceStartEvent:
            return self._sequence(event, depth + 1)
        if cls is AliasEvent:
            return self._alias(event, depth)
        raise _Stop(event.start_mark, "unexpected YAML structure")

    def _start(self, event: yaml.Event, depth: int, kind: str) -> None:
        """Checks at the start of a mapping or sequence (depth, tags, anchors)."""
        if depth > MAX_DEPTH:
            raise _Stop(event.start_mark, f"the document nests more than {MAX_DEPTH} levels deep")
        if event.tag is not None and event.tag not in ("!", kind):
            self.problems.append((event.start_mark, _unsupported(event.tag)))
        if event.anchor is not None:
            self._anchor(event, _IN_PROGRESS)

    def _mapping(self, start: MappingStartEvent, depth: int) -> dict:
        if depth > MAX_DEPTH or start.tag is not None or start.anchor is not None:
            self._start(start, depth, MAP_TAG)
        get = self.get
        resolved = RESOLVED_TAGS
        out: dict = {}
        merges = None
        while True:
            event = get()
            cls = event.__class__
            if cls is ScalarEvent and event.tag is None and event.anchor is None:
                key = event.value
                if event.implicit[0] and (resolved.get(key) or resolve_plain(key)) != STR_TAG:
                    key = self._plain_key(event)
            elif cls is MappingEndEvent:
                break
            else:
                key = self._other_key(event, depth)
            key_event = event
            event = get()
            cls = event.__class__
            if cls is ScalarEvent and event.tag is None and event.anchor is None:
                value = event.value
                if event.implicit[0]:
                    tag = resolved.get(value) or resolve_plain(value)
                    if tag != STR_TAG:
                        value = self._scalar(tag, event)
            elif cls is MappingStartEvent:
                value = self._mapping(event, depth + 1)
            elif cls is SequenceStartEvent:
                value = self._sequence(event, depth + 1)
            else:
                value = self._node(event, depth)
            if key.__class__ is str:
                if key in out:
                    self.duplicates.append((key_event.start_mark, key))
                else:
                    out[key] = value
            elif key is _MERGE:
                if merges is None:
                    merges = []
                merges.append((value, key_event.start_mark))
        if merges is not None:
            out = self._merge(out, merges)
        if start.anchor is not None:
            self.anchors[start.anchor] = out
        return out

    def _sequence(self, start: SequenceStartEvent, depth: int) -> list:
        if depth > MAX_DEPTH or start.tag is not None or start.anchor is not None:
            self._start(start, depth, SEQ_TAG)
        get = self.get
        resolved = RESOLVED_TAGS
        out: list = []
        append = out.append
        while True:
            event = get()
            cls = event.__class__
            if cls is ScalarEvent and event.tag is None and event.anchor is None:
                value = event.value
                if event.implicit[0]:
                    tag = resolved.get(value) or resolve_plain(value)
                    if tag != STR_TAG:
                        value = self._scalar(tag, event)
            elif cls is SequenceEndEvent:
                break
            elif cls is MappingStartEvent:
                value = self._mapping(event, depth + 1)
            elif cls is SequenceStartEvent:
                value = self._sequence(event, depth + 1)
            else:
                value = self._node(event, depth)
            append(value)
        if start.anchor is not None:
            self.anchors[start.anchor] = out
        return out

    def _plain_key(self, event: ScalarEvent) -> object:
        """The key an unquoted, untagged scalar that is not a plain string stands for."""
        text = event.value
        tag = resolve_plain(text)
        if tag == BOOL_TAG:
            # YAML 1.1 reads on/off/yes/no as booleans; as keys they are names
            # (this is how the top-level key `on` survives).
            return text
        if tag == MERGE_TAG:
            return _MERGE
        if tag == NULL_TAG:
            self.problems.append(
                (event.start_mark, "a key is missing here; write a name before the ':'")
            )
        else:
            value = self._scalar(tag, event)
            self.problems.append(
                (
                    event.start_mark,
                    f'keys must be strings, not {describe(value)}; quote it: "{text}"',
                )
            )
        return _SKIP

    def _other_key(self, event: yaml.Event, depth: int) -> object:
        """Keys with tags or anchors, and the collections and aliases used as keys."""
        cls = event.__class__
        if cls is ScalarEvent:
            tag = event.tag
            if tag is None and not event.implicit[0] or tag in ("!", STR_TAG):
                key: object = event.value
            elif tag is None:
                key = self._plain_key(event)
            else:
                self.problems.append(
                    (event.start_mark, f"keys must be strings; remove the tag {tag}")
                )
                key = _SKIP
            if event.anchor is not None:
                self._anchor(event, key if key.__class__ is str else None)
            return key
        value = self._node(event, depth)
        if value.__class__ is str:
            return value
        self.problems.append((event.start_mark, f"keys must be names, not {describe(value)}"))
        return _SKIP

    def _alias(self, event: AliasEvent, depth: int) -> object:
        value = self.anchors.get(event.anchor, _MISSING)
        if value is _MISSING:
            raise _Stop(
                event.start_mark,
                f"the alias *{event.anchor} refers to an anchor (&{event.anchor}) "
                "that is not defined before it",
            )
        if value is _IN_PROGRESS:
            self.problems.append(
                (
                    event.start_mark,
                    f"the alias *{event.anchor} refers to the collection that contains it",
                )
            )
            return None
        size, deepest = self._measure(value)
        self.expanded += size
        if self.expanded > MAX_EXPANDED_VALUES:
            raise _Stop(
                event.start_mark,
                f"aliases expand this document to more than {MAX_EXPANDED_VALUES:,} values; "
                "use fewer nested aliases",
            )
        if depth + deepest > MAX_DEPTH:
            raise _Stop(event.start_mark, f"the document nests more than {MAX_DEPTH} levels deep")
        return value

    def _measure(self, value: object) -> tuple[int, int]:
        """(values in it, nesting depth) of a value, remembering containers."""
        if value.__class__ is not dict and value.__class__ is not list:
            return 1, 0
        known = self.measured.get(id(value))
        if known is not None:
            return known
        size, deepest = 1, 0
        for item in value.values() if value.__class__ is dict else value:
            item_size, item_depth = self._measure(item)
            size += item_size
            deepest = max(deepest, item_depth)
        self.measured[id(value)] = (size, deepest + 1)
        return size, deepest + 1

    def _merge(self, explicit: dict, merges: list[tuple[object, yaml.Mark]]) -> dict:
        merged: dict = {}
        for source, mark in merges:
            for item in source if source.__class__ is list else (source,):
                if item.__class__ is dict:
                    for key, value in item.items():
                        merged.setdefault(key, value)
                else:
                    self.problems.append(
                        (mark, "a merge (<<) takes a mapping or a list of mappings")
                    )
        merged.update(explicit)
        return merged

    def _anchor(self, event: yaml.Event, value: object) -> None:
        first = self.anchor_marks.get(event.anchor)
        if first is not None:
            raise _Stop(
                event.start_mark,
                f"the anchor &{event.anchor} is already defined on line {first.line + 1}; "
                "give it another name",
            )
        self.anchor_marks[event.anchor] = event.start_mark
        self.anchors[event.anchor] = value

    def _scalar(self, tag: str, event: ScalarEvent) -> object:
        if tag == VALUE_TAG or tag == MERGE_TAG:
            return event.value
        cache_key = (tag, event.value)
        try:
            value = _CONSTRUCTED[cache_key]
        except KeyError:
            fn = _SCALAR_CONSTRUCTORS.get(tag)
            if fn is None:
                self.problems.append((event.start_mark, _unsupported(tag)))
                return event.value
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
            try:
                value = fn(_CONSTRUCTOR, node)
            except Exception:  # noqa: BLE001 - any failure of a constructor is the document's
                self.problems.append((event.start_mark, f"{event.value!r} cannot be read as {tag}"))
                return event.value
            if len(_CONSTRUCTED) >= _CACHE_LIMIT:
                _CONSTRUCTED.clear()
            _CONSTRUCTED[cache_key] = value
        if isinstance(value, datetime.date | bytes) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            self.has_non_json = True
        return value


def _unsupported(tag: str) -> str:
    return f"the YAML tag {tag} is not supported here; remove it"


def load_yaml(text: str) -> Loaded:
    """Read one YAML document into plain data, reporting every problem found.

    Never raises for any ``str``: syntax errors, control characters, duplicate
    keys, unsupported tags, alias bombs and deep nesting all become errors.
    """
    loaded = Loaded(text=text, locator=Locator(text))
    if len(text) > MAX_TEXT_CHARS:
        message = f"the document is larger than {MAX_TEXT_CHARS // (1024 * 1024)} MiB"
        return _abort(loaded, SpecError("", 1, 1, message))
    bad = invalid_characters(text)
    if bad:
        loaded.errors.extend(bad)
        loaded.aborted = True
        return loaded
    reader = _Reader(text)
    try:
        loaded.data = reader.read()
    except _Stop as stop:
        line, column = mark_position(stop.mark)
        path = loaded.locator.path_at(stop.mark.index) if stop.mark is not None else ()
        return _abort(loaded, SpecError(format_path(path), line, column, stop.message))
    except yaml.MarkedYAMLError as exc:
        return _abort(loaded, syntax_error(text, exc))
    except RecursionError:
        return _abort(loaded, SpecError("", 1, 1, "the document nests too deeply"))
    except (yaml.YAMLError, ValueError, UnicodeError) as exc:
        return _abort(loaded, SpecError("", 1, 1, f"the document cannot be read as YAML: {exc}"))
    loaded.has_non_json = reader.has_non_json
    for mark, message in reader.problems:
        path = loaded.locator.path_at(mark.index)
        loaded.errors.append(SpecError(format_path(path), *mark_position(mark), message))
    for mark, key in reader.duplicates:
        path = loaded.locator.path_at(mark.index)
        first_line, _ = loaded.locator.position(path, "key")
        loaded.errors.append(
            SpecError(
                format_path(path),
                *mark_position(mark),
                f'duplicate key "{key}" (first defined on line {first_line}); remove one of them',
            )
        )
    loaded.errors = list(sort_errors(loaded.errors))
    return loaded


def _abort(loaded: Loaded, error: SpecError) -> Loaded:
    loaded.errors.append(error)
    loaded.aborted = True
    loaded.data = None
    return loaded
