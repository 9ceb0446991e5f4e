"""Reading a recipe's YAML safely: one composed node graph, checked before it becomes data.

`yaml.safe_load` takes a second `datasets:` block silently over the first, and
expands nested aliases without bound when anything walks the result (a 707-byte
"billion laughs" took 4.7 GB and 43 s). Here duplicate keys are problems naming
both lines, and a document whose aliases expand past `MAX_NODES` is refused
before anything walks it.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 200_000  # expanded nodes; real recipes have a few thousand at most

Path = tuple[Any, ...]


class YamlError(ValueError):
    """The text is not YAML, or not YAML a recipe may be."""


def compose(text: str) -> yaml.Node | None:
    """The document's node graph (aliases are shared nodes), refused when it expands too far."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if root is not None and _expanded_size(root) > MAX_NODES:
        raise YamlError(
            f"YAML aliases expand to more than {MAX_NODES:,} nodes (an alias bomb?): "
            "write the repeated parts out, or use fewer nested aliases"
        )
    return root


def construct(root: yaml.Node | None) -> Any:
    """Plain Python data of a composed (and checked) document."""
    if root is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def line_map(root: yaml.Node | None) -> dict[Path, int]:
    """1-based line of every node of the document, by path (aliased nodes under every path
    that reaches them: `compose` bounded how many that can be)."""
    lines: dict[Path, int] = {}
    for path, node in _walk(root, once=False):
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
    return lines


def duplicate_keys(root: yaml.Node | None) -> list[tuple[Path, int, int]]:
    """(path of the repeated key, its line, the first one's line) for every repeat.

    Merge keys (`<<: *base`) may be overridden: only keys written out count.
    """
    found = []
    for path, node in _walk(root, once=True):
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in first:
                found.append(((*path, key.value), line, first[key.value]))
            else:
                first[key.value] = line
    return found


def _walk(root: yaml.Node | None, *, once: bool) -> list[tuple[Path, yaml.Node]]:
    """(path, node) of every node; with `once`, a shared (aliased) node only at its first path."""
    out: list[tuple[Path, yaml.Node]] = []
    seen: set[int] = set()
    stack: list[tuple[Path, yaml.Node]] = [((), root)] if root is not None else []
    while stack:
        path, node = stack.pop()
        if once and id(node) in seen:
            continue
        seen.add(id(node))
        out.append((path, node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(((*path, k.value), v) for k, v in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node.value))))
    return out


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the document would have with every alias written out (memoized: linear time;
    a recursive alias counts as too many)."""
    cap = MAX_NODES + 1
    sizes: dict[int, int] = {}  # -1 while a node's children are being sized
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion: deep documents must not overflow
        node, children_done = stack.pop()
        if children_done:
            counts = [sizes[id(c)] for c in _children(node)]
            sizes[id(node)] = cap if -1 in counts else min(1 + sum(counts), cap)
        elif id(node) not in sizes:
            sizes[id(node)] = -1
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
