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
_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
# Prometheus prints years and weeks only when they divide the duration exactly.
_FORMAT_UNITS = (
    ("y", True),
    ("w", True),
    ("d", False),
    ("h", False),
    ("m", False),
    ("s", False),
    ("ms", False),
)


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
            i = skip_string(query, i)
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


def skip_string(query: str, start: int) -> int:
    """The position just past the string literal opening at `start` (or the end)."""
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


_TOP_LEVEL_OPERATOR = re.compile(r"[-+*/%^<>=!@]|\b(?:and|or|unless|atan2|bool|offset)\b")


def paren(expr: str) -> str:
    """`expr` wrapped in parentheses unless it is one operand already (call, selector, group).

    Embedding a user's query inside a larger expression must not change how it parses:
    `0 * sum(a) + sum(b)` is not `0 * (sum(a) + sum(b))`.
    """
    text = clean(expr)
    return text if _is_operand(text) else f"({text})"


def _is_operand(text: str) -> bool:
    depth = 0
    i, n = 0, len(text)
    top: list[str] = []
    while i < n:
        ch = text[i]
        if ch in "\"'`":
            end = skip_string(text, i)
            if depth == 0:
                top.append(" ")
            i = end
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                top.append(" ")
        elif depth == 0:
            top.append(ch)
        i += 1
    outside = "".join(top)
    return depth == 0 and not _TOP_LEVEL_OPERATOR.search(outside) and outside.strip() != ""


def error_ratio_expr(total: str, good: str | None = None, bad: str | None = None) -> str:
    """The error ratio of a good/total or bad/total SLI, with no NaN at zero traffic.

    `(T > 0)` drops the sample when nothing was requested: 0/0 is NaN in PromQL, NaN compares
    false (so alerts would stay quiet anyway) but a NaN sample poisons dashboards, `sum()` and
    `avg_over_time()`. No sample is the honest answer to "what fraction failed" when nothing ran;
    writing 0 instead would claim a perfect window and drag long-window averages down.
    `G or 0 * T` makes a total outage count as errors even when the success series was never
    created (a fresh deployment that has failed every request has no `result="success"` series).
    Sloth (`slo:sli_error:ratio_rate*`) and Pyrra (`*:burnrate*`) divide plainly and record NaN
    at zero traffic; their alerts stay quiet because NaN compares false, as ours do because
    there is no sample.
    """
    t = paren(total)
    if good is not None:
        return f"1 - (({paren(good)} or 0 * {t}) / ({t} > 0))"
    if bad is not None:
        return f"({paren(bad)} or 0 * {t}) / ({t} > 0)"
    raise ValueError("an SLI needs a good or a bad query besides the total")
