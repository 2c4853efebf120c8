"""Where a path is in the YAML text, for error positions.

Reading a spec does not keep positions (see ``yaml_source``). When there is
something to report, the text is composed once more into PyYAML's node tree,
and paths are looked up in it with the same key rules the reader applied.
"""

from __future__ import annotations

import operator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Path, Target

STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
BOOL_TAG = "tag:yaml.org,2002:bool"
MERGE_TAG = "tag:yaml.org,2002:merge"

BaseLoader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
"""libyaml's loader when PyYAML was built with it, else the pure-Python one."""

_RESOLVER = yaml.resolver.Resolver()
RESOLVED_TAGS: dict[str, str] = {}
"""Plain scalar -> tag, shared by the reader and the composer (bounded)."""
_CACHE_LIMIT = 50_000


def resolve_plain(value: str) -> str:
    """The tag YAML 1.1 (as PyYAML's safe loader) gives a plain scalar, cached."""
    tag = RESOLVED_TAGS.get(value)
    if tag is None:
        tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
        if len(RESOLVED_TAGS) >= _CACHE_LIMIT:
            RESOLVED_TAGS.clear()
        RESOLVED_TAGS[value] = tag
    return tag


class _ComposeLoader(BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader with cached tag resolution and no path-resolver bookkeeping."""

    def resolve(self, kind, value, implicit):  # noqa: ANN001, ANN201 - PyYAML's signature
        if kind is ScalarNode:
            return resolve_plain(value) if implicit[0] else STR_TAG
        return SEQ_TAG if kind is SequenceNode else MAP_TAG

    # The composer calls these around every node for path resolvers, which the
    # safe loader has none of; C callables that ignore their arguments save two
    # Python calls per node.
    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)


def compose(text: str) -> Node | None:
    """The node tree of ``text``; None if it is empty or cannot be composed."""
    try:
        loader = _ComposeLoader(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except (yaml.YAMLError, RecursionError, ValueError, UnicodeError):
        return None


def key_text(node: Node) -> str | None:
    """The name a key node stands for, or None if it is not a usable key."""
    if node.__class__ is not ScalarNode:
        return None
    if node.tag == STR_TAG or (node.tag == BOOL_TAG and node.style == ""):
        return node.value
    return None


def mapping_entries(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    """Key -> (key node, value node), with the same rules as the reader.

    The first of duplicate keys wins; keys merged in with ``<<`` lose to keys
    written in the mapping itself; of several merged mappings the earlier wins.
    """
    explicit: dict[str, tuple[Node, Node]] = {}
    merged: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        if key_node.__class__ is ScalarNode and key_node.tag == MERGE_TAG:
            sources = value_node.value if value_node.__class__ is SequenceNode else [value_node]
            for source in sources:
                if source.__class__ is MappingNode:
                    for key, entry in mapping_entries(source).items():
                        merged.setdefault(key, entry)
            continue
        key = key_text(key_node)
        if key is not None and key not in explicit:
            explicit[key] = (key_node, value_node)
    if not merged:
        return explicit
    merged.update(explicit)
    return merged


def _mark(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class Locator:
    """Finds the node for a path in the document; composes the text on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._root: Node | None = None
        self._composed = False
        self._entries: dict[int, dict[str, tuple[Node, Node]]] = {}
        self._paths: dict[int, Path] | None = None

    @property
    def root(self) -> Node | None:
        if not self._composed:
            self._root = compose(self.text)
            self._composed = True
        return self._root

    def _find(self, path: Path) -> tuple[bool, Node | None, Node | None]:
        """(whether all of ``path`` was found, key node and value node of the deepest part found).

        The key node of a list item is the item itself; with nothing found both are None.
        """
        node = self.root
        key_node: Node | None = None
        found: Node | None = None
        for part in path:
            if isinstance(part, int) and node.__class__ is SequenceNode:
                if not 0 <= part < len(node.value):
                    return False, key_node, found
                key_node = node = node.value[part]
            elif isinstance(part, str) and node.__class__ is MappingNode:
                entries = self._entries.get(id(node))
                if entries is None:
                    entries = self._entries[id(node)] = mapping_entries(node)
                entry = entries.get(part)
                if entry is None:
                    return False, key_node, found
                key_node, node = entry
            else:
                return False, key_node, found
            found = node
        return True, key_node, found

    def node(self, path: Path) -> Node | None:
        """The value node at ``path``, or None."""
        complete, _, node = self._find(path)
        return node if complete else None

    def position(self, path: Path, at: Target = "value") -> tuple[int, int]:
        """1-based (line, column) for a problem at ``path``.

        ``value``: the node at the path; ``key``: its key; ``parent``: the key of
        the mapping that holds the path (for a missing key); ``root``: the start
        of the document. When the path is not all there, the key of the deepest
        part that is.
        """
        root = self.root
        if root is None:
            return 1, 1
        if at == "root":
            return _mark(root.start_mark)
        if at == "parent":
            path = path[:-1]
        complete, key_node, node = self._find(path)
        if key_node is None:
            return _mark(root.start_mark)
        if not complete or at != "value":
            return _mark(key_node.start_mark)
        if node.__class__ is ScalarNode and node.value == "" and node.style == "":
            # An empty value sits after its key, often at the end of the line.
            return _mark(key_node.start_mark)
        return _mark(node.start_mark)

    def source(self, path: Path) -> str | None:
        """The text of the value at ``path`` as written in the document."""
        node = self.node(path)
        if node is None:
            return None
        return self.text[node.start_mark.index : node.end_mark.index]

    def path_at(self, index: int) -> Path:
        """The path of the deepest node that starts at character ``index`` (``()`` if none).

        Duplicate keys are found too: the path names the key they repeat.
        """
        if self._paths is None:
            self._paths = _paths_by_start(self.root)
        return self._paths.get(index, ())


def _paths_by_start(root: Node | None) -> dict[int, Path]:
    """Start index -> path of the deepest node starting there, over every raw node."""
    paths: dict[int, Path] = {}
    if root is None:
        return paths
    seen: set[int] = set()
    stack: list[tuple[Node, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        paths[node.start_mark.index] = path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__class__ is MappingNode:
            for key_node, value_node in reversed(node.value):
                name = key_text(key_node)
                if name is None:
                    name = key_node.value if key_node.__class__ is ScalarNode else "?"
                child = (*path, name)
                stack.append((value_node, child))
                stack.append((key_node, child))
        elif node.__class__ is SequenceNode:
            for index in range(len(node.value) - 1, -1, -1):
                stack.append((node.value[index], (*path, index)))
    return paths
