"""Deterministic YAML for generated artifacts: built key order, block style, do-not-edit header.

Artifacts are plain trees of dicts, lists, strings, numbers, booleans and None, so they are
written by a small direct writer instead of PyYAML's representer (which dominated emit time):
block mappings and sequences in PyYAML's default layout, multi-line strings as `|` blocks so
PromQL stays readable in review, a string plain only when YAML reads it back as that same string,
otherwise quoted. Round-tripping through `yaml.safe_load` gives the input back (tested).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import yaml

_PLAIN = re.compile(r"^[A-Za-z0-9_./$][A-Za-z0-9_./$ =+@,()<>*^~-]*$")
_STR_TAG = "tag:yaml.org,2002:str"


class _Resolver(yaml.resolver.Resolver):
    pass


_RESOLVER = _Resolver()


@lru_cache(maxsize=65536)
def _plain_ok(text: str) -> bool:
    """A plain scalar only if it is simple text that YAML resolves back to this very string."""
    if not text or not _PLAIN.match(text) or text != text.strip() or ": " in text or " #" in text:
        return False
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag == _STR_TAG)


# What a YAML stream may carry raw (YAML 1.1 printable set, as PyYAML's reader checks it).
_YAML_UNPRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _double_quoted(text: str) -> str:
    """A double-quoted scalar: escapes for quotes, backslashes, line breaks, unprintables."""

    def escape(ch: str) -> str:
        code = ord(ch)
        if ch in '"\\':
            return "\\" + ch
        if ch == "\n":
            return "\\n"
        if (code < 0x100 and _YAML_UNPRINTABLE.match(ch)) or ch in "\t\r\x85":
            return f"\\x{code:02x}"
        if _YAML_UNPRINTABLE.match(ch):
            return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
        return ch

    return '"' + "".join(escape(ch) for ch in text) + '"'


def _printable(text: str) -> bool:
    return all(ch in "\n\t" or (ch.isprintable() and ch != "\ufeff") for ch in text)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        # YAML 1.1 (PyYAML) reads 1e-05 as a string: a float needs a dot before the exponent.
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if isinstance(value, str):
        if _plain_ok(value):
            return value
        if _printable(value) and "\n" not in value:
            return "'" + value.replace("'", "''") + "'"
        return _double_quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} to an artifact")


def _block_string(value: str, indent: int) -> list[str] | None:
    """`|` block lines for a multi-line string, or None when a block cannot hold it exactly."""
    first = next((line for line in value.split("\n") if line), "")
    if not _printable(value) or first.startswith((" ", "\t")) or "\r" in value:
        return None  # a leading blank would be read as indentation
    body = value.rstrip("\n")
    if not body:
        return None
    trailing = len(value) - len(body)
    chomp = "-" if trailing == 0 else "" if trailing == 1 else "+"
    lines = body.split("\n")
    if any(line != line.rstrip(" \t") for line in lines):
        return None  # trailing blanks would be invisible in review; quote instead
    pad = " " * indent
    out = [f"|{chomp}"]
    out += [pad + line if line else "" for line in lines]
    out += [""] * (trailing - 1) if chomp == "+" else []
    return out


def _write(value: Any, indent: int, out: list[str], prefix: str) -> None:
    """Append `value` under `prefix` (the text before it on its first line)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            out.append(prefix + "{}")
            return
        first = True
        for key, item in value.items():
            lead = prefix if first else pad
            first = False
            head = f"{lead}{_scalar(str(key))}:"
            if isinstance(item, dict) and item:
                out.append(head)
                _write(item, indent + 2, out, " " * (indent + 2))
            elif isinstance(item, list) and item:
                out.append(head)
                _write(item, indent, out, pad)  # PyYAML's layout: "- " aligned with the key
            else:
                _write_scalar(item, indent + 2, out, head + " ")
        return
    if isinstance(value, list):
        if not value:
            out.append(prefix + "[]")
            return
        for i, item in enumerate(value):
            lead = (prefix if i == 0 else pad) + "- "
            if isinstance(item, dict | list) and item:
                _write(item, indent + 2, out, lead)
            else:
                _write_scalar(item, indent + 2, out, lead)
        return
    _write_scalar(value, indent, out, prefix)


def _write_scalar(value: Any, indent: int, out: list[str], prefix: str) -> None:
    if isinstance(value, dict | list):
        out.append(prefix + ("{}" if isinstance(value, dict) else "[]"))
        return
    if isinstance(value, str) and "\n" in value:
        block = _block_string(value, indent)
        if block is not None:
            out.append(prefix + block[0])
            out.extend(block[1:])
            return
    out.append(prefix + _scalar(value))


def header(source: str) -> str:
    """The first line of every generated file: what made it and from which spec."""
    return f"# generated by emac from {source} — do not edit\n"


def to_yaml(doc: Any) -> str:
    """`doc` as block-style YAML in the order the dicts were built (no header)."""
    out: list[str] = []
    _write(doc, 0, out, "")
    return "\n".join(out) + "\n"


def dump_yaml(doc: Any, source: str) -> str:
    """`doc` as YAML text: the header, then block-style YAML in the order the dicts were built.

    No line folding, so a long PromQL expression stays on one line, and no timestamps or
    versions, so regenerating an unchanged spec gives identical bytes.
    """
    return header(source) + to_yaml(doc)
