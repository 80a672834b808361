"""Accepted-model precedence: branch weights and call policies override the spec's."""

from __future__ import annotations

import textwrap

import pytest

from bot.compile.pipeline import compile_model, models_from_documents
from bot.spec.domain import JourneyModel, Node
from bot.spec.loader import parse_texts
from bot.spec.models import AcceptedJourneyModel
from bot.spec.precedence import RETRY_SUFFIX, apply_accepted_model
from bot.spec.yamlpos import YamlDocument

SPEC = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: shop}
spec:
  objectives:
    availability: {target: 0.99}
  operator:
    type: series
    steps:
      - ref: web
      - type: retry
        attempts: 2
        perTryTimeout: 900ms
        target: {ref: stock}
      - type: branch
        routes:
          - weight: 0.5
            target: {ref: old}
          - weight: 0.5
            target:
              type: series
              steps: [{ref: new}, {ref: db}]
  components:
    web: {availability: 0.999}
    stock: {availability: 0.99}
    old: {availability: 0.999}
    new: {availability: 0.99}
    db: {availability: 0.995}
"""


def accepted(body: str) -> str:
    head = "apiVersion: emac.dev/v1alpha1\nkind: AcceptedJourneyModel\nmetadata: {name: shop}\n"
    return head + "spec:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def build(model_text: str | None) -> tuple[JourneyModel, AcceptedJourneyModel, YamlDocument]:
    files = {"spec.yaml": SPEC, "accepted.yaml": model_text or accepted("{}")}
    docs = parse_texts(files)
    (model,) = models_from_documents(docs)
    (doc,) = docs["accepted.yaml"]
    return model, AcceptedJourneyModel.model_validate(doc.data), doc


def applied(body: str) -> JourneyModel:
    model, wire, doc = build(accepted(body))
    return apply_accepted_model(model, wire, doc)


def node(model: JourneyModel, op: str) -> Node:
    return next(n for n in model.root.walk() if n.op == op)


def leaf(model: JourneyModel, component: str) -> Node:
    return next(n for n in model.root.leaves() if n.component == component)


def test_a_branch_group_sets_the_weights_whatever_its_order() -> None:
    model = applied("""\
        redundancy:
          - pattern: branch
            group: [new, old]
            weights: [0.9, 0.1]
        """)
    assert node(model, "branch").weights == pytest.approx((0.1, 0.9), abs=1e-15)
    where = model.provenance[f"weights.{node(model, 'branch').path}"]
    assert (where.file, where.line, where.field) == (
        "accepted.yaml",
        8,
        "spec.redundancy[0].weights",
    )


def test_without_a_group_edge_probabilities_from_one_caller_set_the_weights() -> None:
    model = applied("""\
        topology:
          edges:
            - {from: web, to: old, probability: 0.3}
            - {from: web, to: new, probability: 0.1}
        """)
    assert node(model, "branch").weights == pytest.approx((0.75, 0.25), abs=1e-15)
    assert model.provenance[f"weights.{node(model, 'branch').path}"].field == (
        "spec.topology.edges[0].probability"
    )


def test_a_model_without_weights_leaves_the_spec_weights() -> None:
    model, _, _ = build(None)
    assert applied("{}").root == model.root


def test_a_policy_with_retries_wraps_the_leaf_in_a_retry() -> None:
    model = applied("""\
        policies:
          - target: db
            retries: {attempts: 3, perTryTimeout: 250ms}
            timeout: 200ms
        """)
    wrapper = next(
        n for n in model.root.walk() if n.op == "retry" and n.path.endswith(RETRY_SUFFIX)
    )
    assert wrapper.children == (leaf(model, "db"),)
    assert wrapper.attempts == 3
    assert wrapper.timeout == pytest.approx(0.2)  # a try cannot outlive the call's timeout
    assert model.provenance["policies.db.retries"].field == "spec.policies[0].retries"
    assert model.provenance["policies.db.timeout"].line == 8


def test_a_policy_overrides_the_spec_retry_of_its_target() -> None:
    model = applied("""\
        policies:
          - target: stock
            retries: {attempts: 1}
        """)
    retry = node(model, "retry")
    assert retry.attempts == 1 and retry.timeout == pytest.approx(0.9)
    assert not any(n.path.endswith(RETRY_SUFFIX) for n in model.root.walk())


def test_a_timeout_without_retries_bounds_the_call() -> None:
    model = applied("""\
        policies:
          - target: web
            timeout: 1.5s
        """)
    assert leaf(model, "web").timeout == pytest.approx(1.5)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("redundancy:\n  - {pattern: branch, group: [old, new], weights: [0.2, 0.8]}\n",
                     id="weights applied twice are the same weights"),
        pytest.param("policies:\n  - {target: db, retries: {attempts: 4}, timeout: 2s}\n",
                     id="a retry policy applied twice wraps the leaf once"),
        pytest.param("policies:\n  - {target: stock, retries: {attempts: 5, perTryTimeout: 1s}}\n",
                     id="a policy on a spec retry applied twice keeps its tries"),
    ],
)  # fmt: skip
def test_applying_the_accepted_model_twice_changes_nothing(body: str) -> None:
    model, wire, doc = build(accepted(body))
    once = apply_accepted_model(model, wire, doc)
    assert apply_accepted_model(once, wire, doc) == once


def test_retries_raise_only_the_independence_bound() -> None:
    base = compile_model(build(None)[0]).availability
    model = applied("""\
        policies:
          - target: db
            retries: {attempts: 3}
        """)
    bounds = compile_model(model).availability
    assert bounds.pessimistic == pytest.approx(base.pessimistic, abs=1e-15)
    assert bounds.optimistic > base.optimistic
