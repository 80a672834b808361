"""Deployments and StatefulSets mapped to failure domains: zones, node pools, payment networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.discover.k8s import Workload, iter_resources, service_identity
from bot.discover.mesh import ConfigEvidence, config_evidence_from_documents, read_config_dirs
from bot.spec.errors import SpecError
from bot.spec.yamlpos import parse_yaml_text

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
BOOKINFO = REFERENCE / "istio" / "bookinfo" / "platform" / "bookinfo.yaml"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mesh"
ZONE_A = "topology.kubernetes.io/zone=us-east-1a"
NETWORK = ("payment.network",)


def shop() -> ConfigEvidence:
    return read_config_dirs([FIXTURES / "checkout-shop.yaml"])


def payments(variant: str) -> ConfigEvidence:
    path = FIXTURES / f"checkout-payments-{variant}.yaml"
    return read_config_dirs([path], domain_label_keys=NETWORK)


def test_front_cart_and_pricing_share_the_zone_domain() -> None:
    evidence = shop()
    for service in ("front", "cart", "pricing"):
        assert ZONE_A in evidence.domain_names(service)
    assert ZONE_A not in evidence.domain_names("cart-store")
    assert dict(evidence.resource_counts) == {"Deployment": 3, "StatefulSet": 1, "ignored": 1}


@pytest.mark.parametrize(
    ("service", "signal", "line", "field"),
    [
        pytest.param(
            "front",
            "k8s.nodeSelector",
            36,
            "items[1].spec.template.spec.nodeSelector.topology.kubernetes.io/zone",
            id="front is pinned by its node selector",
        ),
        pytest.param(
            "cart",
            "k8s.nodeAffinity",
            61,
            "items[2].spec.template.spec.affinity.nodeAffinity."
            "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
            "matchExpressions[0]",
            id="cart is pinned by a required node affinity",
        ),
        pytest.param(
            "pricing",
            "k8s.nodeSelector",
            83,
            "items[3].spec.template.spec.nodeSelector.topology.kubernetes.io/zone",
            id="pricing's selector narrows its two-zone affinity to one zone",
        ),
    ],
)
def test_zone_domain_keeps_its_provenance(service: str, signal: str, line: int, field: str) -> None:
    (zone,) = [d for d in shop().domains[service] if d.domain == ZONE_A]
    assert (zone.signal, zone.source.line, zone.source.field) == (signal, line, field)
    assert zone.source.file == "checkout-shop.yaml"


def test_pricing_also_shares_its_region_and_node_group() -> None:
    assert shop().domain_names("pricing") == {
        ZONE_A,
        "topology.kubernetes.io/region=us-east-1",
        "eks.amazonaws.com/nodegroup=shop-general",
    }


def test_versions_come_from_the_pod_template() -> None:
    evidence = shop()
    assert evidence.domain_names("front", "v1") == {ZONE_A}
    assert evidence.domain_names("front", "v2") == frozenset()
    assert evidence.domain_names("cart", "v2") == {ZONE_A}


def test_zone_anti_affinity_spreads_the_statefulset_so_no_zone_is_shared() -> None:
    (placement,) = [p for p in shop().placements if p.service == "cart-store"]
    assert (placement.placement, placement.key, placement.hard, placement.replicas) == (
        "spread",
        "topology.kubernetes.io/zone",
        True,
        3,
    )
    assert placement.signal == "k8s.podAntiAffinity"
    assert placement.workload == "StatefulSet shop/cart-store"


def test_a_hostname_spread_is_not_a_zone_spread() -> None:
    kinds = {(p.key, p.placement) for p in shop().placements if p.service == "pricing"}
    assert ("topology.kubernetes.io/zone", "pinned") in kinds
    assert all(placement != "spread" for _, placement in kinds)


@pytest.mark.parametrize(
    ("variant", "shared", "paya", "payb"),
    [
        pytest.param(
            "separate",
            False,
            "payment.network=psp-north",
            "payment.network=psp-south",
            id="providers on separate networks share no domain",
        ),
        pytest.param(
            "shared",
            True,
            "payment.network=card-net-1",
            "payment.network=card-net-1",
            id="providers on one network share that domain",
        ),
    ],
)
def test_payment_network_labels_become_domains(
    variant: str, shared: bool, paya: str, payb: str
) -> None:
    evidence = payments(variant)
    assert evidence.domain_names("paya") == {paya}
    assert evidence.domain_names("payb") == {payb}
    assert bool(evidence.domain_names("paya") & evidence.domain_names("payb")) is shared
    (label,) = evidence.domains["paya"]
    assert (label.signal, label.source.line, label.workload) == (
        "k8s.label",
        21,
        "Deployment payments/paya",
    )


def test_payment_providers_spread_across_zones_hard_and_soft() -> None:
    spread = {p.service: p for p in payments("separate").placements}
    assert (spread["paya"].placement, spread["paya"].hard) == ("spread", True)
    assert (spread["payb"].placement, spread["payb"].hard) == ("spread", False)
    assert spread["paya"].signal == "k8s.topologySpreadConstraints"
    assert (
        spread["paya"].source.field == "spec.template.spec.topologySpreadConstraints[0].topologyKey"
    )


def test_payment_labels_are_not_domains_unless_asked_for() -> None:
    evidence = read_config_dirs([FIXTURES / "checkout-payments-shared.yaml"])
    assert evidence.domain_names("paya") == frozenset()


def test_checkout_manifests_together() -> None:
    evidence = read_config_dirs(
        [
            FIXTURES / "checkout-shop.yaml",
            FIXTURES / "checkout-payments-shared.yaml",
            FIXTURES / "checkout-routes.yaml",
        ],
        domain_label_keys=NETWORK,
    )
    zone = {s for s, ds in evidence.domains.items() if any(d.domain == ZONE_A for d in ds)}
    assert zone == {"front", "cart", "pricing"}
    assert evidence.domain_names("paya") == evidence.domain_names("payb")


def test_bookinfo_workloads_have_services_and_versions_but_no_domains() -> None:
    docs = parse_yaml_text(BOOKINFO.read_text(encoding="utf-8"), "bookinfo.yaml")
    workloads = [
        Workload.model_validate(r.data) for r in iter_resources(docs) if r.kind == "Deployment"
    ]
    assert [service_identity(w) for w in workloads] == [
        ("details", "v1"),
        ("ratings", "v1"),
        ("reviews", "v1"),
        ("reviews", "v2"),
        ("reviews", "v3"),
        ("productpage", "v1"),
    ]
    evidence = read_config_dirs([BOOKINFO])
    assert evidence.domains == {} and evidence.placements == ()


WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger
  labels: {app: ledger, payment.network: from-metadata}
spec:
  template:
    metadata:
      labels: {app: ledger}
    spec:
      nodeSelector: {topology.kubernetes.io/zone: eu-west-1a}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - {key: topology.kubernetes.io/zone, operator: In, values: [ZONES]}
              - matchExpressions:
                  - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1c]}
"""


def test_a_label_on_the_workload_metadata_counts_when_the_pods_lack_it() -> None:
    docs = parse_yaml_text(WORKLOAD.replace("ZONES", "eu-west-1a"), "ledger.yaml")
    evidence = config_evidence_from_documents(docs, domain_label_keys=NETWORK)
    assert evidence.domain_names("ledger") == {
        "payment.network=from-metadata",
        "topology.kubernetes.io/zone=eu-west-1a",
    }
    (label,) = [d for d in evidence.domains["ledger"] if d.signal == "k8s.label"]
    assert label.source.field == "metadata.labels.payment.network"


def test_affinity_terms_are_alternatives_so_two_terms_restrict_to_two_zones() -> None:
    docs = parse_yaml_text(
        WORKLOAD.replace(
            "      nodeSelector: {topology.kubernetes.io/zone: eu-west-1a}\n", ""
        ).replace("ZONES", "eu-west-1b"),
        "ledger.yaml",
    )
    evidence = config_evidence_from_documents(docs)
    (placement,) = evidence.placements
    assert (placement.placement, placement.values) == ("restricted", ("eu-west-1b", "eu-west-1c"))
    assert evidence.domain_names("ledger") == frozenset()


def test_a_selector_outside_the_required_affinity_is_unschedulable() -> None:
    docs = parse_yaml_text(WORKLOAD.replace("ZONES", "eu-west-1b"), "ledger.yaml")
    with pytest.raises(SpecError) as caught:
        config_evidence_from_documents(docs)
    assert str(caught.value) == (
        "ledger.yaml:11:7: spec.template.spec: no node can satisfy both the node selector and "
        "the required node affinity on topology.kubernetes.io/zone, so no pod would be scheduled"
    )
