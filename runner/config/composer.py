"""Build plain data from a stream of YAML parser events, recording node positions.

PyYAML's own composer builds a node graph of the whole document before callers
can walk it. A document that repeats large anchors many times, or nests lists
thousands of levels deep, then costs unbounded memory or overflows the Python
stack before any check can run. This builder consumes events one at a time without
recursion. It stops at MAX_NODES nodes (an alias counts as every node of its
anchor) or MAX_DEPTH levels of nesting, so time and memory stay bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.config.scalars import CONSTRUCTED_TAGS, STR_TAG, construct_tagged
from runner.config.scalars import resolve_plain as _resolve_plain
from runner.errors import ConfigError, Finding

# A job file has about 8 levels and a few hundred nodes. The limits leave room for
# large request bodies, and a hostile file is rejected in about a second.
MAX_NODES = 100_000
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]
Position = tuple[int, int]

_MAP_TAGS = {None, "!", "tag:yaml.org,2002:map"}
_SEQ_TAGS = {None, "!", "tag:yaml.org,2002:seq"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class SourceMap:
    """Line and column (from 1) of every key and value of one YAML document."""

    file: str
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def locate(self, path: PathKey, *, prefer_key: bool = False) -> Position:
        """Return the position of the deepest node on ``path`` that the file has."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefer_key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)


class _Marker:
    """A state of a mapping between its key and its value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_EXPECT_KEY = _Marker("expect key")
_SKIP = _Marker("skip value")  # the key was invalid or repeated: drop the value
_MERGE = _Marker("merge")  # the key was '<<': the value merges into the mapping


@dataclass(frozen=True)
class _Slot:
    """The place of a node: its data path, and how its positions are recorded."""

    path: PathKey
    record: bool  # False inside mapping keys and dropped values
    merging: bool  # True inside a '<<' value: positions only fill gaps


@dataclass
class _Frame:
    """A mapping or sequence whose end event has not arrived yet."""

    value: dict[str, Any] | list[Any]
    slot: _Slot
    position: Position
    anchor: str | None
    nodes_before: int
    log_start: int
    merge_list: bool = False  # the list value of a '<<' key
    height: int = 1
    pending: Any = _EXPECT_KEY  # mappings: the key whose value comes next
    own_keys: dict[str, Position] = field(default_factory=dict)
    merges: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Anchor:
    value: Any
    nodes: int
    height: int
    base: PathKey | None  # None when the anchored node recorded no positions
    log_start: int
    log_end: int


class Composer:
    """Turn parser events of one document into dicts, lists and scalars."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.source = SourceMap(display)
        self.findings: list[Finding] = []
        self.nodes = 0
        self._stack: list[_Frame] = []
        self._anchors: dict[str, _Anchor] = {}
        # Every position recorded, in document order, so that an alias can copy
        # the positions of its anchor's subtree: (path, is_key, position, merging).
        self._log: list[tuple[PathKey, bool, Position, bool]] = []
        self._root: Any = None

    def compose(self, events: Iterable[yaml.Event]) -> Any:
        """Consume the node events of one document and return its data."""
        for event in events:
            if isinstance(event, yaml.ScalarEvent):
                self._scalar(event)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event)
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                self._start(event)
            elif isinstance(event, yaml.CollectionEndEvent):
                self._end()
        return self._root

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        position = _position(event)
        slot = self._slot()
        self._count(1, event)
        self._check_depth(len(self._stack), event)
        log_start = len(self._log)
        self._record(slot, position, is_key=False)
        merge = event.value == "<<" and (
            event.tag == _MERGE_TAG or (event.tag is None and event.implicit[0])
        )
        value = "<<" if merge else self._scalar_value(event, position)
        if event.anchor is not None:
            base = slot.path if slot.record else None
            self._anchors[event.anchor] = _Anchor(
                value, 1, 0, base, log_start, log_start
            )
        self._attach(value, position, 0, key_text=event.value, merge=merge)

    def _scalar_value(self, event: yaml.ScalarEvent, position: Position) -> Any:
        text: str = event.value
        tag = event.tag
        if tag is None and event.implicit[0]:
            value, trap = _resolve_plain(text)
            if trap:
                self._error(position, trap)
            return value
        if tag in CONSTRUCTED_TAGS:
            try:
                return construct_tagged(tag, text)
            except ValueError as e:
                self._error(position, str(e))
                return text
        if tag not in (None, "!", STR_TAG):
            self._error(position, f"unsupported YAML tag {tag!r}; remove it")
        return text

    def _alias(self, event: yaml.AliasEvent) -> None:
        position = _position(event)
        slot = self._slot()
        name = event.anchor or ""
        anchor = self._anchors.get(name)
        if any(frame.anchor == name for frame in self._stack):
            self._error(
                position,
                f"alias *{name} refers to a node that contains it; YAML data for a "
                "job file cannot be recursive",
            )
            anchor = None
        elif anchor is None:
            self._error(
                position,
                f"undefined alias *{name}; define '&{name}' earlier in the file, or "
                "quote a value that starts with '*' (such as a cron expression)",
            )
        self._record(slot, position, is_key=False)
        if anchor is None:
            self._count(1, event)
            self._attach(None, position, 0)
            return
        self._count(anchor.nodes, event)
        self._check_depth(len(self._stack) + anchor.height, event)
        if slot.record and anchor.base is not None:
            self._copy_positions(anchor, slot)
        self._attach(anchor.value, position, anchor.height)

    def _copy_positions(self, anchor: _Anchor, slot: _Slot) -> None:
        """Record the positions of the anchor's subtree again under ``slot.path``."""
        assert anchor.base is not None
        depth = len(anchor.base)
        for index in range(anchor.log_start, anchor.log_end):
            path, is_key, position, merging = self._log[index]
            if path == anchor.base and not is_key:
                continue  # the alias itself stands for the anchored node
            target = _Slot(slot.path + path[depth:], True, merging or slot.merging)
            self._record(target, position, is_key=is_key)

    def _start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        position = _position(event)
        slot = self._slot()
        self._count(1, event)
        self._check_depth(len(self._stack) + 1, event)
        mapping = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (_MAP_TAGS if mapping else _SEQ_TAGS):
            self._error(position, f"unsupported YAML tag {event.tag!r}; remove it")
        merge_list = (
            not mapping and bool(self._stack) and self._stack[-1].pending is _MERGE
        )
        frame = _Frame(
            value={} if mapping else [],
            slot=slot,
            position=position,
            anchor=event.anchor,
            nodes_before=self.nodes - 1,
            log_start=len(self._log),
            merge_list=merge_list,
        )
        self._record(slot, position, is_key=False)
        self._stack.append(frame)

    def _end(self) -> None:
        frame = self._stack.pop()
        value = frame.value
        if isinstance(value, dict):
            for merged in frame.merges:
                for key, item in merged.items():
                    value.setdefault(key, item)
        if frame.anchor is not None:
            self._anchors[frame.anchor] = _Anchor(
                value,
                self.nodes - frame.nodes_before,
                frame.height,
                frame.slot.path if frame.slot.record else None,
                frame.log_start,
                len(self._log),
            )
        self._attach(value, frame.position, frame.height)

    def _slot(self) -> _Slot:
        """Return the slot of the next node, from the state of the open collection."""
        if not self._stack:
            return _Slot((), True, False)
        parent = self._stack[-1]
        slot = parent.slot
        if isinstance(parent.value, list):
            if parent.merge_list:
                return _Slot(slot.path, slot.record, True)
            return _Slot((*slot.path, len(parent.value)), slot.record, slot.merging)
        if parent.pending is _EXPECT_KEY or parent.pending is _SKIP:
            return _Slot(slot.path, False, slot.merging)
        if parent.pending is _MERGE:
            return _Slot(slot.path, slot.record, True)
        return _Slot((*slot.path, parent.pending), slot.record, slot.merging)

    def _attach(
        self,
        value: Any,
        position: Position,
        height: int,
        key_text: str | None = None,
        merge: bool = False,
    ) -> None:
        """Put a finished node into its parent collection, or make it the root."""
        if not self._stack:
            self._root = value
            return
        parent = self._stack[-1]
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.pending is _EXPECT_KEY:
            if merge:
                parent.pending = _MERGE
            else:
                parent.pending = self._key(parent, value, position, key_text)
        else:
            pending = parent.pending
            parent.pending = _EXPECT_KEY
            if pending is _MERGE:
                self._merge(parent, value, position)
            elif pending is not _SKIP:
                parent.value[pending] = value

    def _key(
        self, parent: _Frame, value: Any, position: Position, text: str | None
    ) -> Any:
        """Check a finished key node; return the key, or _SKIP to drop its value."""
        if isinstance(value, dict | list):
            self._error(position, "a mapping key must be a plain string")
            return _SKIP
        if value is None or value == "":
            self._error(position, "empty mapping key; write a name before the ':'")
            return _SKIP
        key = value if isinstance(value, str) else (text or str(value))
        if key in parent.own_keys:
            first_line, _ = parent.own_keys[key]
            self._error(
                position,
                f"duplicate key '{key}' (first defined on line {first_line}); "
                "YAML parsers silently keep only one of them, so remove one",
            )
            return _SKIP
        parent.own_keys[key] = position
        slot = parent.slot
        self._record(
            _Slot((*slot.path, key), slot.record, slot.merging), position, is_key=True
        )
        return key

    def _merge(self, parent: _Frame, value: Any, position: Position) -> None:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if isinstance(source, dict):
                parent.merges.append(source)
            else:
                self._error(
                    position, "'<<' merges only mappings (such as an alias *name)"
                )
                return

    def _record(self, slot: _Slot, position: Position, *, is_key: bool) -> None:
        if not slot.record:
            return
        table = self.source.keys if is_key else self.source.values
        if slot.merging:
            table.setdefault(slot.path, position)
        else:
            table[slot.path] = position
        self._log.append((slot.path, is_key, position, slot.merging))

    def _count(self, nodes: int, event: yaml.Event) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            raise self._fatal(
                event,
                f"document expands to more than {MAX_NODES} nodes, most likely "
                "through aliases (*name) that repeat large anchors; write the values "
                "out or split the file",
            )

    def _check_depth(self, depth: int, event: yaml.Event) -> None:
        if depth > MAX_DEPTH:
            raise self._fatal(
                event,
                f"values are nested more than {MAX_DEPTH} levels deep; a job file "
                "needs about 8, so flatten the data",
            )

    def _fatal(self, event: yaml.Event, message: str) -> ConfigError:
        line, column = _position(event)
        return ConfigError(
            [*self.findings, Finding(self.display, line, column, message)]
        )

    def _error(self, position: Position, message: str) -> None:
        self.findings.append(Finding(self.display, *position, message))


def _position(event: yaml.Event) -> Position:
    mark = event.start_mark
    if mark is None:  # PyYAML's parsers always set it; the stubs allow None
        return (1, 1)
    return (mark.line + 1, mark.column + 1)
