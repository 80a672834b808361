"""The ModelDelta wire model, and what accepting each kind of change does to the model."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.discover.accept import (
    DeltaMismatch,
    accept_delta,
    apply_changes,
    check_based_on,
    sha256_digest,
)
from bot.spec.delta import ModelDelta
from bot.spec.models import AcceptedJourneyModel

DIGEST = "sha256:" + "0" * 64

ACCEPTED = """\
apiVersion: emac.dev/v1alpha1
kind: AcceptedJourneyModel
metadata: {name: shop}
spec:
  topology:
    nodes: [{id: web}, {id: old}]
    edges:
      - {from: web, to: old, probability: 0.5}
      - {from: web, to: db}
  redundancy:
    - {pattern: race, group: [a, b]}
    - {pattern: branch, group: [old, new], weights: [0.5, 0.5]}
  failureDomains:
    declared:
      - {name: cluster, members: [web, a, b]}
    inferred:
      - {name: net-a, members: [a], confidence: 0.9}
      - {name: net-b, members: [b], confidence: 0.9}
  policies:
    - {target: db, timeout: 1s}
"""


def delta(changes: str, **spec: Any) -> ModelDelta:
    body = {
        "journey": "shop",
        "basedOn": {"file": "accepted.yaml", "digest": DIGEST},
        "confidence": {"overall": 0.9, "notes": ["n"], "flags": []},
        "changes": yaml.safe_load(textwrap.dedent(changes)) or [],
        **spec,
    }
    doc = {"apiVersion": "emac.dev/v1alpha1", "kind": "ModelDelta", "metadata": {"name": "shop"}}
    return ModelDelta.model_validate({**doc, "spec": body})


def model() -> AcceptedJourneyModel:
    return AcceptedJourneyModel.model_validate(yaml.safe_load(ACCEPTED))


def test_unknown_keys_are_rejected_with_a_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"unknown key 'befor' \(did you mean \"before\"\?\)"):
        delta("- {kind: failure-domain, target: a, befor: [x], confidence: 1}")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param("- {kind: edge-added, before: {from: a, to: b}, confidence: 1}",
                     "edge-added needs only `after`", id="an added edge needs its new side"),
        pytest.param("- {kind: renamed, confidence: 1}", "does not match any of the expected tags",
                     id="an unknown change kind is refused"),
        pytest.param("- {kind: failure-domain, target: a, confidence: 1.5}",
                     "less than or equal to 1", id="confidence is a probability"),
    ],
)  # fmt: skip
def test_malformed_changes_are_refused(changes: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        delta(changes)


def test_digests_must_be_sha256() -> None:
    with pytest.raises(ValidationError, match="sha256"):
        delta("[]", basedOn={"file": "a.yaml", "digest": "md5:abc"})


def test_edges_are_added_and_removed_and_their_nodes_kept() -> None:
    out = apply_changes(
        model(),
        delta("""\
            - {kind: edge-added, after: {from: web, to: new, probability: 0.5}, confidence: 0.9}
            - {kind: edge-removed, before: {from: web, to: db}, confidence: 0.9}
            """).spec.changes,
    )
    assert [(e.from_, e.to) for e in out.spec.topology.edges] == [("web", "old"), ("web", "new")]
    assert [n.id for n in out.spec.topology.nodes] == ["web", "old", "new"]


def test_branch_weights_replace_the_group_in_place() -> None:
    out = apply_changes(
        model(),
        delta(
            "- {kind: branch-weights, group: [new, old], after: [0.8, 0.2], confidence: 0.9}"
        ).spec.changes,
    )
    assert [(g.pattern, g.group, g.weights) for g in out.spec.redundancy] == [
        ("race", ["a", "b"], None),
        ("branch", ["new", "old"], [0.8, 0.2]),
    ]


def test_redundancy_groups_and_policies_are_swapped_by_identity() -> None:
    out = apply_changes(
        model(),
        delta("""\
            - {kind: redundancy-group, before: {pattern: race, group: [b, a]}, confidence: 0.9}
            - {kind: redundancy-group, after: {pattern: fallback, group: [a, b]}, confidence: 0.9}
            - kind: call-policy
              target: db
              before: {target: db, timeout: 1s}
              after: {target: db, retries: {attempts: 3}}
              confidence: 0.9
            """).spec.changes,
    )
    assert [g.pattern for g in out.spec.redundancy] == ["branch", "fallback"]
    (policy,) = out.spec.policies
    assert policy.timeout is None and policy.retries is not None and policy.retries.attempts == 3


def test_a_domain_reassignment_moves_members_and_drops_empty_domains() -> None:
    out = apply_changes(
        model(),
        delta("""\
            - {kind: failure-domain, target: b, before: [net-b], after: [net-a], confidence: 0.7}
            """).spec.changes,
    )
    fd = out.spec.failure_domains
    assert [(d.name, d.members, d.confidence) for d in fd.inferred] == [("net-a", ["a", "b"], 0.7)]
    assert fd.declared == model().spec.failure_domains.declared  # policy is never rewritten


def test_accepting_records_the_acceptance_and_takes_the_delta_confidence() -> None:
    d = delta("[]", evidence=[{"file": "t.json", "kind": "traces", "digest": DIGEST}])
    out = accept_delta(
        model(),
        d,
        accepted_by="alice",
        accepted_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        delta_digest=DIGEST,
    )
    assert out.spec.acceptance is not None
    assert out.spec.acceptance.model_dump(by_alias=True) == {
        "acceptedBy": "alice",
        "acceptedAt": "2025-01-02T03:04:05Z",
        "fromDelta": DIGEST,
        "basedOn": DIGEST,
        "evidenceDigests": [f"{DIGEST} t.json"],
    }
    assert out.spec.confidence == d.spec.confidence


def test_a_delta_is_checked_against_the_bytes_of_the_accepted_model() -> None:
    data = ACCEPTED.encode()
    d = delta("[]", basedOn={"file": "accepted.yaml", "digest": sha256_digest(data)})
    check_based_on(d, "accepted.yaml", data)
    with pytest.raises(DeltaMismatch, match=r"accepted\.yaml is now sha256:"):
        check_based_on(d, "accepted.yaml", data + b"# edited\n")
