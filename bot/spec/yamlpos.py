"""YAML reading that keeps line/column positions for every value, with limits for hostile files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.spec.errors import Location, SpecError, SpecProblem, format_path

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 500_000
MAX_DEPTH = 200

PathKey = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """One YAML document: its data, the file it came from, and where each value sits."""

    file: str
    index: int
    data: Any
    value_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    start: tuple[int, int] = (1, 1)

    def location(self, path: PathKey, *, key: bool = False) -> Location:
        """The best position for `path`: the key itself if asked, else its value, else a parent."""
        marks = self.key_marks if key else self.value_marks
        probe = tuple(path)
        while True:
            if probe in marks:
                line, col = marks[probe]
                return Location(self.file, line, col)
            if probe in self.value_marks:
                line, col = self.value_marks[probe]
                return Location(self.file, line, col)
            if not probe:
                return Location(self.file, *self.start)
            probe = probe[:-1]

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> SpecProblem:
        return SpecProblem(self.location(path, key=key), format_path(path), message)


# libyaml's parser is an order of magnitude faster than the pure-Python one and gives the same
# nodes and marks; fall back when PyYAML was built without it.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_STR_TAG = "tag:yaml.org,2002:str"


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, doc: YamlDocument) -> None:
        self.loader = loader
        self.doc = doc
        self.nodes = 0
        self.problems: list[SpecProblem] = []

    def walk(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} YAML nodes (alias expansion?)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"nesting deeper than {MAX_DEPTH} levels")
        mark = (node.start_mark.line + 1, node.start_mark.column + 1)
        self.doc.value_marks.setdefault(path, mark)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(
                        SpecProblem(
                            Location(
                                self.doc.file,
                                key_node.start_mark.line + 1,
                                key_node.start_mark.column + 1,
                            ),
                            format_path(path),
                            "mapping keys must be plain scalars",
                        )
                    )
                    continue
                key = self.scalar(key_node)
                key_str = key if isinstance(key, str) else str(key)
                child: PathKey = (*path, key_str)
                key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key_str in out:
                    self.problems.append(
                        SpecProblem(
                            Location(self.doc.file, *key_mark),
                            format_path(child),
                            "duplicate key (the later value would silently win)",
                        )
                    )
                    continue
                self.doc.key_marks[child] = key_mark
                out[key_str] = self.walk(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        # Plain strings are most of a spec; skip the constructor's bookkeeping for them.
        if node.tag == _STR_TAG and isinstance(node.value, str):
            return node.value
        return self.loader.construct_object(node)


class _TooBig(Exception):
    pass


def display_name(path: Path, root: Path | None) -> str:
    """The file name as shown in messages and outputs: relative to `root` when inside it."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def parse_yaml_text(text: str, name: str) -> list[YamlDocument]:
    """Parse every document in `text`; raise SpecError with positions on any problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(
            [
                SpecProblem(
                    Location(name),
                    "",
                    f"file is larger than {MAX_FILE_BYTES} bytes; refusing to read it",
                )
            ]
        )
    docs: list[YamlDocument] = []
    problems: list[SpecProblem] = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            doc = YamlDocument(
                file=name,
                index=index,
                data=None,
                start=(node.start_mark.line + 1, node.start_mark.column + 1),
            )
            walker = _Walker(loader, doc)
            try:
                doc.data = walker.walk(node, (), 0)
            except _TooBig as exc:
                raise SpecError([SpecProblem(Location(name, *doc.start), "", str(exc))]) from None
            problems.extend(walker.problems)
            docs.append(doc)
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = exc.problem or exc.context or "malformed YAML"
        raise SpecError(
            [SpecProblem(Location(name, line, col), "", f"malformed YAML: {what}")]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(Location(name), "", f"malformed YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return [d for d in docs if d.data is not None]


def read_yaml_file(path: Path, name: str | None = None) -> list[YamlDocument]:
    """Read a YAML file from disk (size-checked before reading)."""
    shown = name or path.as_posix()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpecError(
            [SpecProblem(Location(shown), "", f"cannot read file: {exc.strerror}")]
        ) from None
    if size > MAX_FILE_BYTES:
        raise SpecError(
            [
                SpecProblem(
                    Location(shown),
                    "",
                    f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit",
                )
            ]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [SpecProblem(Location(shown), "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    except OSError as exc:
        raise SpecError(
            [SpecProblem(Location(shown), "", f"cannot read file: {exc.strerror}")]
        ) from None
    return parse_yaml_text(text, shown)
