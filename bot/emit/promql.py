"""PromQL text helpers: window templating, re-windowing range selectors, names and numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Sloth's and the JourneyIntent's placeholder; Go templates allow `{{.window}}` as well.
_WINDOW_TEMPLATE = re.compile(r"\{\{\s*\.window\s*\}\}")
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
# A range selector or subquery bracket right where the scanner stands: `[30d]`, `[1h:1m]`.
_RANGE = re.compile(rf"\[\s*({_DURATION})\s*(:\s*(?:{_DURATION})?\s*)?\]")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdwy])")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
            "w": 604_800_000, "y": 31_536_000_000}
# Prometheus prints years and weeks only when they divide the duration exactly.
_FORMAT_UNITS = (("y", True), ("w", True), ("d", False), ("h", False), ("m", False),
                 ("s", False), ("ms", False))


class WindowError(ValueError):
    """A query cannot be evaluated over another window (no template and no range selector)."""


def has_window_template(query: str) -> bool:
    return _WINDOW_TEMPLATE.search(query) is not None


def render_window(query: str, window: str) -> str:
    """Substitute every `{{ .window }}` placeholder with `window`."""
    return _WINDOW_TEMPLATE.sub(window, query)


def range_selectors(query: str) -> list[str]:
    """The durations of every range selector / subquery range, outside string literals."""
    return [m.group(1) for _, m in _scan_ranges(query)]


def rewindow(query: str, window: str) -> str:
    """Replace the range of every range selector (`[30d]` → `[5m]`) with `window`.

    String literals and comments are skipped, so a label regex such as `code=~"[45].."` is left
    alone. A subquery keeps its resolution (`[30d:1m]` → `[5m:1m]`). Every range is replaced:
    an SLI ratio measures numerator and denominator over the same window.
    """
    out: list[str] = []
    last = 0
    for start, match in _scan_ranges(query):
        out.append(query[last:start])
        out.append(f"[{window}{_compact(match.group(2) or '')}]")
        last = start + len(match.group(0))
    out.append(query[last:])
    return "".join(out)


def windowed(query: str, window: str) -> str:
    """The query evaluated over `window`: the template filled in, else its ranges re-windowed."""
    text = clean(query)
    if has_window_template(text):
        return render_window(text, window)
    if not range_selectors(text):
        raise WindowError(f"query has no `{{{{ .window }}}}` and no range selector: {text}")
    return rewindow(text, window)


def _compact(subquery_step: str) -> str:
    return re.sub(r"\s+", "", subquery_step)


def _scan_ranges(query: str) -> list[tuple[int, re.Match[str]]]:
    found: list[tuple[int, re.Match[str]]] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch in "\"'`":
            i = _skip_string(query, i)
        elif ch == "#":
            end = query.find("\n", i)
            i = n if end < 0 else end
        elif ch == "[":
            match = _RANGE.match(query, i)
            if match:
                found.append((i, match))
                i = match.end()
            else:
                i += 1
        else:
            i += 1
    return found


def _skip_string(query: str, start: int) -> int:
    quote = query[start]
    i = start + 1
    while i < len(query):
        if query[i] == "\\" and quote != "`":
            i += 2
            continue
        if query[i] == quote:
            return i + 1
        i += 1
    return i


def clean(query: str) -> str:
    """A query as written in a YAML block scalar, without surrounding blank space."""
    return query.strip()


def duration_ms(text: str) -> int:
    """Milliseconds in a duration such as `30d`, `1h30m` or the spec's `1.5h`."""
    return round(sum(float(n) * _UNIT_MS[u] for n, u in _DURATION_PART.findall(text)))


def format_duration(ms: int) -> str:
    """A duration the way Prometheus prints it: `1d` for 24h, `1w` for 7d, `90d`, `1h30m`."""
    if ms <= 0:
        return "0s"
    out = ""
    rest = ms
    for unit, exact in _FORMAT_UNITS:
        mult = _UNIT_MS[unit]
        if exact and rest % mult != 0:
            continue
        count = rest // mult
        if count > 0:
            out += f"{count}{unit}"
            rest -= count * mult
    return out


def canonical_window(text: str) -> str:
    """`24h` → `1d`, `60m` → `1h`: one spelling per duration, so record names never collide."""
    return format_duration(duration_ms(text))


def format_number(value: float) -> str:
    """A float as PromQL text: 12 significant digits, integers without `.0`.

    `1 - 0.995` is 0.0050000000000000044 in binary; printing 0.005 keeps the rule readable and
    the threshold within 1e-12 relative of the exact value.
    """
    rounded = float(f"{value:.12g}")
    if rounded.is_integer() and abs(rounded) < 1e15:
        return str(int(rounded))
    return repr(rounded)


def metric_name_part(name: str) -> str:
    """A journey or component name made safe inside a metric name (`[a-zA-Z0-9_]`)."""
    safe = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return safe if not safe[:1].isdigit() else f"_{safe}"


def camel_case(name: str) -> str:
    """`checkout` → `Checkout`, `user-login` → `UserLogin`, `search_v2` → `SearchV2`."""
    parts = [p for p in re.split(r"[^a-zA-Z0-9]+", name) if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def label_selector(labels: Mapping[str, str]) -> str:
    """`{a="1", b="2"}` in the given order, values escaped as PromQL strings."""
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
