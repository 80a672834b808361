"""Kubernetes metadata of emitted objects: the journey's labels and valid object/label names."""

from __future__ import annotations

import hashlib
import re

from bot.compile.result import CompiledJourney

_MAX_NAME = 63


def object_labels(cj: CompiledJourney) -> dict[str, str]:
    """The spec's labels, plus who manages the object and which journey it guards."""
    labels = dict(cj.model.intent.metadata.labels)
    labels["app.kubernetes.io/managed-by"] = "emac"
    labels["emac.dev/journey"] = label_value(cj.name)
    return dict(sorted(labels.items()))


def annotation_name(name: str) -> str:
    """A Kubernetes annotation/label name: ≤ 63 of [A-Za-z0-9-_.], alphanumeric at both ends."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip("-_.") or "x"
    if len(safe) <= _MAX_NAME:
        return safe
    return f"{safe[: _MAX_NAME - 9].rstrip('-_.')}-{_digest(name)}"


def label_value(value: str) -> str:
    return annotation_name(value)


def dns_name(name: str) -> str:
    """A DNS-1123 object name: lowercase alphanumerics and '-', at most 63 characters."""
    safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "x"
    if len(safe) <= _MAX_NAME:
        return safe
    return f"{safe[: _MAX_NAME - 9].rstrip('-')}-{_digest(name)}"


def _digest(text: str) -> str:
    # A stable short suffix keeps truncated names distinct.
    return hashlib.sha256(text.encode()).hexdigest()[:8]
