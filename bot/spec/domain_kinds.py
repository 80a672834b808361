"""The operator kinds shared by the wire model and the domain model."""

from typing import Literal

OpKind = Literal[
    "leaf",
    "series",
    "parallel",
    "race",
    "fallback",
    "retry",
    "branch",
    "quorum",
    "optional",
    "async",
]
