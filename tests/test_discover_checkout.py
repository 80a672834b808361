"""The paper's three checkout scenarios replayed from OTLP traces and k8s manifests.

One accepted model puts paya and payb in separate payment domains. (a) The evidence agrees;
(b) both providers now report one payment network; (c) payb sends no spans and paya's
labels disagree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from bot.compile.pipeline import compile_paths
from bot.discover.commands import run_accept
from bot.discover.confidence import support_confidence
from bot.spec.delta import FailureDomainChange, ModelDelta
from bot.spec.errors import SpecError
from tests.test_discover_support import (
    CHECKOUT,
    DELTA_PESSIMISTIC,
    PRINTED,
    SCENARIOS,
    SEPARATE_PESSIMISTIC,
    SHARED_PESSIMISTIC,
    WHEN,
    checkout_run,
    copy_fixture,
    fixed_clock,
    parser,
)


def test_the_accepted_model_alone_compiles_to_pass_with_separate_domains() -> None:
    (cj,) = compile_paths([CHECKOUT / "spec" / "checkout.yaml"])
    assert cj.availability.pessimistic == pytest.approx(SEPARATE_PESSIMISTIC, abs=PRINTED)
    assert cj.model.components["paya"].failure_domains == {"payment-net-a"}
    assert cj.model.components["payb"].failure_domains == {"payment-net-b"}
    assert cj.decision == "PASS"


def test_a_evidence_that_agrees_proposes_nothing_and_passes() -> None:
    spec = checkout_run("a").delta.spec
    impact = spec.predicted_impact
    assert impact is not None
    assert spec.changes == []
    assert spec.confidence.flags == []
    # Every claim rests on 60 of 60 journey traces: the Wilson lower bound n / (n + z²).
    assert spec.confidence.overall == pytest.approx(support_confidence(60, 60), abs=1e-12)
    assert spec.confidence.overall >= 0.8
    for side in (impact.before, impact.after):
        assert side.availability.pessimistic == pytest.approx(SEPARATE_PESSIMISTIC, abs=PRINTED)
        assert side.decision == "PASS"
    assert impact.delta_pessimistic == 0.0 and not impact.high_impact


def test_a_discovered_domains_are_named_by_their_label_and_agree_with_the_manifests() -> None:
    run = checkout_run("a")
    inferred = {d.item.component: d.item.names for d in run.discovery.domains}
    assert inferred == {"paya": ("payment.network=net-a",), "payb": ("payment.network=net-b",)}
    paya = next(d for d in run.discovery.domains if d.item.component == "paya")
    # 60 spans and one Deployment vote for net-a: 61 of 61.
    assert paya.confidence == pytest.approx(support_confidence(61, 61), abs=1e-12)
    assert {s.signal for s in paya.provenance} == {"span attribute payment.network", "k8s.label"}


def domain_changes(delta: ModelDelta) -> dict[str, FailureDomainChange]:
    return {c.target: c for c in delta.spec.changes if isinstance(c, FailureDomainChange)}


def test_b_a_shared_network_reassigns_both_providers_with_high_impact() -> None:
    delta = checkout_run("b").delta
    changes = domain_changes(delta)
    assert len(delta.spec.changes) == 2
    assert (changes["paya"].before, changes["paya"].after) == (
        ["payment-net-a"],
        ["payment.network=net-a"],
    )
    assert (changes["payb"].before, changes["payb"].after) == (
        ["payment-net-b"],
        ["payment.network=net-a"],
    )
    impact = delta.spec.predicted_impact
    assert impact is not None
    assert impact.before.availability.pessimistic == pytest.approx(
        SEPARATE_PESSIMISTIC, abs=PRINTED
    )
    assert impact.after.availability.pessimistic == pytest.approx(SHARED_PESSIMISTIC, abs=PRINTED)
    assert impact.delta_pessimistic == pytest.approx(DELTA_PESSIMISTIC, abs=PRINTED)
    assert impact.high_impact and impact.high_impact_threshold == 0.001
    assert impact.before.decision == "REVIEW"
    assert impact.before.reasons == [
        "high-impact model delta pending: ΔA⁻ = -0.00496257 (|ΔA⁻| ≥ 0.001)"
    ]
    assert impact.after.decision == "FAIL"
    assert impact.after.reasons == ["pessimistic 0.99251449 < target 0.995"]
    assert delta.spec.confidence.overall >= 0.8 and delta.spec.confidence.flags == []


def test_b_each_change_names_the_spans_and_manifest_fields_behind_it() -> None:
    change = domain_changes(checkout_run("b").delta)["payb"]
    traces = [p for p in change.provenance if p.span_ids]
    manifests = [p for p in change.provenance if p.field]
    assert traces and all(p.file.endswith("checkout-b-shared-network.json") for p in traces)
    assert all(len(p.span_ids or []) >= 1 for p in traces)
    (label,) = manifests
    assert label.file.endswith("networks-shared.yaml")
    assert (label.field, label.line, label.signal) == (
        "spec.template.metadata.labels.payment.network",
        39,
        "k8s.label",
    )


def test_c_a_silent_provider_and_conflicting_labels_force_review() -> None:
    spec = checkout_run("c").delta.spec
    impact = spec.predicted_impact
    assert impact is not None
    assert set(spec.confidence.flags) == {"missing-evidence:payb", "conflicting-labels:paya"}
    assert spec.confidence.overall < 0.8
    assert impact.before.decision == "REVIEW"
    assert "evidence flag: missing-evidence:payb" in impact.before.reasons
    assert "evidence flag: conflicting-labels:paya" in impact.before.reasons
    assert any(r.startswith("evidence confidence 0 <") for r in impact.before.reasons)


def test_c_paya_labels_split_evenly_so_their_support_is_weak() -> None:
    run = checkout_run("c")
    paya = next(d for d in run.discovery.domains if d.item.component == "paya")
    # net-a 30 spans, net-b 30 spans, psp-north from its Deployment: 30 of 61 for the mode.
    assert paya.confidence == pytest.approx(support_confidence(30, 61), abs=1e-12)
    assert paya.flags == ("conflicting-labels:paya",)


def test_evidence_and_the_accepted_model_are_recorded_by_digest() -> None:
    spec = checkout_run("b").delta.spec
    accepted = CHECKOUT / "model" / "accepted.checkout.yaml"
    assert spec.based_on.digest == "sha256:" + hashlib.sha256(accepted.read_bytes()).hexdigest()
    traces, config = SCENARIOS["b"]
    digests = {Path(e.file).name: (e.kind, e.digest) for e in spec.evidence}
    for path, kind in ((traces, "traces"), (config, "config")):
        assert digests[path.name] == (
            kind,
            "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(),
        )


def test_discovery_output_is_byte_stable() -> None:
    first, second = checkout_run("b"), checkout_run("b")
    assert first.delta_text == second.delta_text
    assert first.discovered_text == second.discovered_text
    assert ModelDelta.model_validate(yaml.safe_load(first.delta_text)) == first.delta


def accept(delta: Path, accepted: Path, *extra: str) -> int:
    args = parser().parse_args(["accept", str(delta), "--accepted", str(accepted), *extra])
    return run_accept(args, clock=fixed_clock)


def discover(journey_dir: Path, scenario: str, out: Path) -> int:
    traces, config = SCENARIOS[scenario]
    argv = ["discover", "--journey", "checkout", "--traces", str(traces), "--config", str(config),
            "--accepted", str(journey_dir / "model" / "accepted.checkout.yaml"),
            "--out", str(out), str(journey_dir / "spec" / "checkout.yaml")]  # fmt: skip
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


def test_b_after_accept_compiling_gives_the_predicted_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journey = copy_fixture("checkout", tmp_path)
    out = tmp_path / "out"
    assert discover(journey, "b", out) == 0
    printed = capsys.readouterr().out
    assert "2 change(s)" in printed
    assert "A⁻ 0.99747706 → 0.99251449 (ΔA⁻ -0.00496257, high impact)" in printed
    assert "decision: REVIEW while pending, FAIL once accepted" in printed
    delta = ModelDelta.model_validate(yaml.safe_load((out / "delta.checkout.yaml").read_text()))
    assert (out / "discovered.checkout.yaml").is_file()

    accepted = journey / "model" / "accepted.checkout.yaml"
    assert accept(out / "delta.checkout.yaml", accepted, "--by", "alice") == 0
    (cj,) = compile_paths([journey / "spec" / "checkout.yaml"])
    impact = delta.spec.predicted_impact
    assert impact is not None
    assert cj.availability.as_dict() == impact.after.availability.model_dump(by_alias=True)
    assert cj.availability.pessimistic == pytest.approx(SHARED_PESSIMISTIC, abs=PRINTED)
    assert cj.decision == "FAIL" and cj.confidence == delta.spec.confidence.overall
    assert cj.model.components["paya"].failure_domains == {"payment.network=net-a"}
    assert cj.model.components["payb"].failure_domains == {"payment.network=net-a"}


def test_accept_records_who_when_and_which_evidence(tmp_path: Path) -> None:
    journey = copy_fixture("checkout", tmp_path)
    out = tmp_path / "out"
    assert discover(journey, "b", out) == 0
    delta_file = out / "delta.checkout.yaml"
    accepted = journey / "model" / "accepted.checkout.yaml"
    before = accepted.read_bytes()
    assert accept(delta_file, accepted, "--by", "alice") == 0
    acceptance = yaml.safe_load(accepted.read_text())["spec"]["acceptance"]
    delta = yaml.safe_load(delta_file.read_text())
    assert acceptance == {
        "acceptedBy": "alice",
        "acceptedAt": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fromDelta": "sha256:" + hashlib.sha256(delta_file.read_bytes()).hexdigest(),
        "basedOn": "sha256:" + hashlib.sha256(before).hexdigest(),
        "evidenceDigests": [f"{e['digest']} {e['file']}" for e in delta["spec"]["evidence"]],
    }


def test_a_delta_made_against_another_accepted_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journey = copy_fixture("checkout", tmp_path)
    accepted = journey / "model" / "accepted.checkout.yaml"
    assert discover(journey, "a", tmp_path / "a") == 0
    assert discover(journey, "b", tmp_path / "b") == 0
    assert accept(tmp_path / "b" / "delta.checkout.yaml", accepted) == 0
    written = accepted.read_bytes()
    capsys.readouterr()
    assert accept(tmp_path / "a" / "delta.checkout.yaml", accepted) == 2
    message = capsys.readouterr().err
    assert "refusing" in message and "was made against" in message
    assert "run `emac discover` again" in message
    assert accepted.read_bytes() == written  # nothing written


def test_c_summary_names_the_flags_and_the_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert discover(CHECKOUT, "c", tmp_path) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "emac discover checkout: 0 change(s), confidence 0.0000, "
        "flags: conflicting-labels:paya, missing-evidence:payb\n"
    )
    assert "decision: REVIEW while pending, REVIEW once accepted" in printed


def test_missing_inputs_are_reported_by_file_not_by_traceback(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.json: no such file"):
        checkout_run_with_traces(tmp_path / "nope.json")
    args = parser().parse_args(["accept", str(tmp_path / "d.yaml"), "--accepted", "a.yaml"])
    with pytest.raises(SpecError, match="no such file"):
        run_accept(args, clock=fixed_clock)


def checkout_run_with_traces(traces: Path) -> None:
    args = parser().parse_args(
        ["discover", "--journey", "checkout", "--traces", str(traces),
         "--accepted", str(CHECKOUT / "model" / "accepted.checkout.yaml"),
         "--out", "unused", str(CHECKOUT / "spec" / "checkout.yaml")]
    )  # fmt: skip
    args.func(args)


def test_a_malformed_delta_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "delta.checkout.yaml"
    bad.write_text(
        "apiVersion: emac.dev/v1alpha1\nkind: ModelDelta\nmetadata: {name: checkout}\n"
        "spec:\n  journey: checkout\n  basedOn: {file: a.yaml, digest: 'sha256:00'}\n"
        "  confidence: {overall: 0.9}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as exc:
        accept(bad, CHECKOUT / "model" / "accepted.checkout.yaml")
    assert ":6:" in str(exc.value) and "spec.basedOn.digest" in str(exc.value)
