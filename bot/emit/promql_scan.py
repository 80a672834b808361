"""Canary scoping of PromQL: a small scanner adding a label matcher to every vector selector."""

from __future__ import annotations

import re

from bot.emit.promql import clean, skip_string, windowed

CANARY_LABEL = "rollout"
CANARY_VALUE = "canary"


class QueryScopeError(ValueError):
    """A query has no metric selector to scope to canary traffic."""


def canary_query(query: str) -> str:
    """A query over the canary: every selector gets `rollout="canary"`, the window `{window}`."""
    return with_matcher(windowed(query, "{window}"))


_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"[0-9.][0-9a-zA-Z_.]*")
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"offset", "bool", "and", "or", "unless", "atan2", "inf", "nan", "start", "end"}
# Aggregations may put `by (...)` between their name and their argument: `sum by (le) (...)`.
_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}


def with_matcher(query: str, label: str = CANARY_LABEL, value: str = CANARY_VALUE) -> str:
    """Add `label="value"` to every vector selector of `query` that does not match on `label`.

    A small PromQL scanner: strings, comments, ranges and label lists (`by (le)`) are skipped;
    an identifier not followed by `(` and not a keyword is a metric name. The `{window}`
    placeholder is left alone. Raises QueryScopeError when the query has no selector at all.
    """
    matcher = f'{label}="{value}"'
    out: list[str] = []
    i, n, found = 0, len(query), 0
    while i < n:
        ch = query[i]
        if query.startswith("{window}", i):
            out.append("{window}")
            i += len("{window}")
        elif ch in "\"'`":
            end = skip_string(query, i)
            out.append(query[i:end])
            i = end
        elif ch == "#":
            end = query.find("\n", i)
            end = n if end < 0 else end
            out.append(query[i:end])
            i = end
        elif ch == "[":
            end = query.find("]", i)
            end = n if end < 0 else end + 1
            out.append(query[i:end])
            i = end
        elif ch == "{":
            end = _matching_brace(query, i)
            out.append(_extend_braces(query[i:end], label, matcher))
            found += 1
            i = end
        elif ch.isdigit() or (ch == "." and i + 1 < n and query[i + 1].isdigit()):
            match = _NUMBER.match(query, i)
            assert match is not None
            out.append(match.group(0))
            i = match.end()
        elif _IDENT.match(query, i):
            match = _IDENT.match(query, i)
            assert match is not None
            word = match.group(0)
            out.append(word)
            i = match.end()
            j = i
            while j < n and query[j] in " \t\r\n":
                j += 1
            nxt = query[j] if j < n else ""
            if word.lower() in _LABEL_LIST_KEYWORDS:
                if nxt == "(":
                    end = query.find(")", j)
                    end = n if end < 0 else end + 1
                    out.append(query[i:end])
                    i = end
            elif nxt == "(" or word.lower() in _KEYWORDS or word in _AGGREGATIONS:
                continue
            elif nxt == "{":
                out.append(query[i:j])
                end = _matching_brace(query, j)
                out.append(_extend_braces(query[j:end], label, matcher))
                found += 1
                i = end
            else:
                out.append("{" + matcher + "}")
                found += 1
        else:
            out.append(ch)
            i += 1
    if found == 0:
        raise QueryScopeError(f"no metric selector in: {clean(query)}")
    return "".join(out)


def _extend_braces(block: str, label: str, matcher: str) -> str:
    inner = block[1:-1]
    if re.search(rf"(^|,)\s*{re.escape(label)}\s*(=|!=|=~|!~)", inner):
        return block
    body = inner.rstrip()
    if not body.strip():
        return "{" + matcher + "}"
    sep = "" if body.endswith(",") else ","
    return "{" + body + sep + matcher + "}"


def _matching_brace(query: str, start: int) -> int:
    i = start + 1
    while i < len(query):
        if query[i] in "\"'`":
            i = skip_string(query, i)
            continue
        if query[i] == "}":
            return i + 1
        i += 1
    return len(query)
