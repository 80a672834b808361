"""Istio VirtualService/DestinationRule wire models (fields we use) and Istio value syntax."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from bot.discover.k8s import ResourceMeta
from bot.spec.wire import OpenModel

ISTIO_API_VERSIONS = (
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
)

_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns))+$")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNIT_SECONDS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}


# --- Istio wire model (fields we use; other keys are allowed) ------------------------------


class Percent(OpenModel):
    value: float = Field(ge=0.0, le=100.0)


class PortSelector(OpenModel):
    number: int | None = None


class Destination(OpenModel):
    host: str
    subset: str | None = None
    port: PortSelector | None = None


class RouteDestination(OpenModel):
    destination: Destination
    weight: int | None = Field(default=None, ge=0)


class MatchRequest(OpenModel):
    uri: dict[str, str] | None = None
    scheme: dict[str, str] | None = None
    method: dict[str, str] | None = None
    authority: dict[str, str] | None = None
    headers: dict[str, dict[str, str]] = Field(default_factory=dict)
    query_params: dict[str, dict[str, str]] = Field(default_factory=dict)
    without_headers: dict[str, dict[str, str]] = Field(default_factory=dict)
    port: int | None = None
    source_labels: dict[str, str] = Field(default_factory=dict)
    source_namespace: str | None = None
    gateways: list[str] = Field(default_factory=list)


class Delay(OpenModel):
    fixed_delay: str
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)


class Abort(OpenModel):
    http_status: int | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)


class Fault(OpenModel):
    delay: Delay | None = None
    abort: Abort | None = None


class Retries(OpenModel):
    attempts: int = 0
    per_try_timeout: str | None = None
    retry_on: str | None = None


class Mirror(OpenModel):
    destination: Destination
    percentage: Percent | None = None


class HttpRoute(OpenModel):
    name: str | None = None
    match: list[MatchRequest] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)
    timeout: str | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    mirror: Destination | None = None
    mirror_percentage: Percent | None = None
    mirror_percent: int | None = Field(default=None, ge=0, le=100)
    mirrors: list[Mirror] = Field(default_factory=list)


class VirtualServiceSpec(OpenModel):
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HttpRoute] = Field(default_factory=list)


class VirtualService(OpenModel):
    kind: Literal["VirtualService"]
    metadata: ResourceMeta
    spec: VirtualServiceSpec


class OutlierDetection(OpenModel):
    consecutive_errors: int | None = Field(default=None, ge=0)
    consecutive_5xx_errors: int | None = Field(default=None, ge=0, alias="consecutive5xxErrors")
    consecutive_gateway_errors: int | None = Field(default=None, ge=0)
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)


class PortTrafficPolicy(OpenModel):
    port: PortSelector | None = None
    outlier_detection: OutlierDetection | None = None


class TrafficPolicy(OpenModel):
    outlier_detection: OutlierDetection | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)


class Subset(OpenModel):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(OpenModel):
    host: str
    subsets: list[Subset] = Field(default_factory=list)
    traffic_policy: TrafficPolicy | None = None


class DestinationRule(OpenModel):
    kind: Literal["DestinationRule"]
    metadata: ResourceMeta
    spec: DestinationRuleSpec


def duration_seconds(text: str) -> float | None:
    """Seconds in an Istio duration (`7s`, `0.5s`, `1m30s`, `250ms`), None if not one."""
    if not _GO_DURATION.match(text.strip()):
        return None
    return sum(float(n) * _GO_UNIT_SECONDS[u] for n, u in _GO_DURATION_PART.findall(text))


def service_of(host: str) -> str:
    """The service a mesh host names: `reviews.prod.svc.cluster.local` → `reviews`."""
    for suffix in (".svc.cluster.local", ".svc"):
        if host.endswith(suffix):
            return host.split(".", 1)[0]
    return host
