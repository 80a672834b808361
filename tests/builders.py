"""Builders for operator trees and components used across the compiler tests."""

from __future__ import annotations

import itertools

from bot.spec.domain import ComponentModel, Node, OpKind, Provenance

HERE = Provenance("test", 0, 0, "test")
_counter = itertools.count()


def comp(name: str, availability: float, *domains: str) -> ComponentModel:
    return ComponentModel(
        name=name,
        kind="service",
        availability=availability,
        availability_source=HERE,
        failure_domains=frozenset(domains),
        domains_source=HERE,
    )


def leaf(component: str, timeout: float | None = None) -> Node:
    return Node("leaf", f"n{next(_counter)}", HERE, component=component, timeout=timeout)


def op(kind: OpKind, *children: Node, **params: object) -> Node:
    return Node(kind, f"n{next(_counter)}", HERE, tuple(children), **params)  # type: ignore[arg-type]


def series(*children: Node) -> Node:
    return op("series", *children)


def race(*children: Node) -> Node:
    return op("race", *children)


def accepted_model_yaml(journey: str, *, confidence: float) -> str:
    """An AcceptedJourneyModel file that only states how much its evidence is trusted."""
    return (
        "apiVersion: emac.dev/v1alpha1\nkind: AcceptedJourneyModel\nmetadata:\n"
        f"  name: {journey}\nspec:\n  confidence:\n    overall: {confidence}\n"
    )
