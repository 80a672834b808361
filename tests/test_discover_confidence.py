"""Confidence from counts and the evidence flags that force REVIEW."""

from __future__ import annotations

import textwrap

import pytest

from bot.compile.pipeline import models_from_documents
from bot.discover import confidence as conf
from bot.discover.changes import diff_models
from bot.discover.mesh import ConfigEvidence, config_evidence_from_documents
from bot.discover.model_build import Discovery, discover_model
from bot.discover.stats import Z95, wilson_interval
from bot.discover.trace_infer import infer_trace_evidence
from bot.discover.traces import read_spans
from bot.spec.delta import EdgeChange, RedundancyChange
from bot.spec.domain import JourneyModel
from bot.spec.loader import parse_texts
from bot.spec.models import AcceptedJourneyModel
from bot.spec.yamlpos import parse_yaml_text
from tests.test_discover_support import SCENARIOS


@pytest.mark.parametrize("n", [1, 10, 60, 1000])
def test_full_support_is_the_wilson_lower_bound_n_over_n_plus_z_squared(n: int) -> None:
    assert conf.support_confidence(n, n) == pytest.approx(n / (n + Z95 * Z95), abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n"),
    [pytest.param(30, 60, id="an even split of 60"), pytest.param(12, 60, id="a fifth of 60"),
     pytest.param(500, 1000, id="an even split of 1000")],
)  # fmt: skip
def test_an_estimate_is_as_confident_as_its_interval_is_narrow(k: int, n: int) -> None:
    share = wilson_interval(k, n)
    assert conf.estimate_confidence(k, n) == pytest.approx(1 - (share.high - share.low), abs=1e-12)


def test_more_observations_of_the_same_share_give_more_confidence() -> None:
    small, large = conf.estimate_confidence(30, 60), conf.estimate_confidence(3000, 6000)
    assert small < large < 1.0
    assert conf.support_confidence(60, 60) < conf.support_confidence(600, 600) < 1.0


def test_no_observations_give_no_confidence() -> None:
    assert conf.support_confidence(0, 0) == conf.estimate_confidence(0, 0) == 0.0


def test_the_most_voted_label_wins_and_disagreement_is_a_conflict() -> None:
    vote = conf.label_vote({"net-b": 30, "net-a": 30, "psp-north": 1})
    assert vote is not None
    assert (vote.value, vote.votes, vote.total, vote.conflicting) == ("net-a", 30, 61, True)
    assert vote.confidence == pytest.approx(conf.support_confidence(30, 61), abs=1e-15)
    agreed = conf.label_vote({"net-a": 61})
    assert agreed is not None and not agreed.conflicting
    assert conf.label_vote({}) is None


def test_the_journey_is_as_confident_as_its_weakest_claim() -> None:
    claims = [conf.Claim("a", 0.9), conf.Claim("b", 0.4), conf.Claim("c", 0.95)]
    assert conf.overall(claims) == (0.4, claims[1])
    assert conf.overall([]) == (0.0, None)


def test_flag_names() -> None:
    assert conf.missing_evidence("payb") == "missing-evidence:payb"
    assert conf.conflicting_labels("paya") == "conflicting-labels:paya"
    assert conf.config_flag("unknown_share", "reviews") == "unknown-share:reviews"
    assert conf.LOW_COVERAGE == "low-coverage"


# --- discovery against a spec the traces only partly cover ------------------------------------

SPEC = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: checkout}
spec:
  objectives:
    availability: {target: 0.99}
  operator:
    type: series
    steps:
      - ref: front
      - type: parallel
        branches: [{ref: cart}, {ref: pricing}, {ref: fraud}]
      - type: %(pay)s
  components:
    front: {availability: 0.9995}
    cart: {availability: 0.999}
    pricing: {availability: 0.999}
    fraud: {availability: 0.999}
    paya: {availability: 0.995}
    payb: {availability: 0.995}
"""
RACE = "race\n        branches: [{ref: paya}, {ref: payb}]"
BRANCH = (
    "branch\n        routes:\n          - {weight: 0.5, target: {ref: paya}}\n"
    "          - {weight: 0.5, target: {ref: payb}}"
)


def journey(pay: str = RACE) -> JourneyModel:
    (model,) = models_from_documents(parse_texts({"spec.yaml": SPEC % {"pay": pay}}))
    return model


def discovered(model: JourneyModel, config: ConfigEvidence | None = None) -> Discovery:
    traces = infer_trace_evidence(read_spans(SCENARIOS["a"][0]), "front")
    return discover_model(model, traces, config or config_evidence_from_documents([]))


def test_a_leaf_the_traces_never_reach_is_missing_and_lowers_coverage() -> None:
    found = discovered(journey())
    assert found.coverage.missing == ("fraud",)
    assert set(found.flags) == {"missing-evidence:fraud", "low-coverage"}
    # fraud is called on every request by the spec, and by none of 60 traces.
    assert found.confidence == 0.0
    assert "calls to fraud" in found.notes[2]


def accepted(body: str) -> AcceptedJourneyModel:
    head = "apiVersion: emac.dev/v1alpha1\nkind: AcceptedJourneyModel\nmetadata: {name: checkout}\n"
    (doc,) = parse_yaml_text(head + "spec:\n" + textwrap.indent(body, "  "), "accepted.yaml")
    return AcceptedJourneyModel.model_validate(doc.data)


def test_edges_the_traces_add_or_drop_become_changes() -> None:
    model = accepted(
        "topology:\n  edges:\n    - {from: front, to: fraud}\n    - {from: front, to: cart}\n"
    )
    changes = diff_models(model, discovered(journey()))
    edges = {(c.kind, (c.after or c.before).to) for c in changes if isinstance(c, EdgeChange)}  # type: ignore[union-attr]
    assert edges == {("edge-added", "pricing"), ("edge-added", "paya"),
                     ("edge-added", "payb"), ("edge-removed", "fraud")}  # fmt: skip
    removed = next(c for c in changes if c.kind == "edge-removed")
    assert removed.confidence == pytest.approx(conf.support_confidence(60, 60), abs=1e-15)
    assert removed.provenance and removed.provenance[0].file.endswith(".json")


def test_a_race_the_accepted_model_lacks_is_proposed() -> None:
    changes = diff_models(accepted("{}\n"), discovered(journey()))
    (race,) = [c for c in changes if isinstance(c, RedundancyChange)]
    assert race.after is not None and race.after.group == ["paya", "payb"]
    assert race.confidence == pytest.approx(conf.support_confidence(60, 60), abs=1e-15)


def test_branch_weights_from_traces_are_estimates_of_call_counts() -> None:
    found = discovered(journey(BRANCH))
    (branch,) = found.branches
    assert branch.item.weights == (0.5, 0.5)  # both providers are called in every trace
    assert branch.confidence == pytest.approx(conf.estimate_confidence(60, 120), abs=1e-15)
    lo, hi = branch.item.intervals[0]
    assert lo < 0.5 < hi


def test_route_weights_the_traces_contradict_are_conflicting_routes() -> None:
    (doc,) = parse_yaml_text(
        textwrap.dedent("""\
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: pay}
            spec:
              hosts: [pay]
              http:
                - route:
                    - {destination: {host: paya}, weight: 90}
                    - {destination: {host: payb}, weight: 10}
            """),
        "pay.yaml",
    )
    found = discovered(journey(BRANCH), config_evidence_from_documents([doc]))
    (branch,) = found.branches
    assert branch.item.weights == (0.9, 0.1)
    assert "conflicting-routes:pay" in found.flags and branch.flags == ("conflicting-routes:pay",)
