"""Traffic policies of Istio http rules and subsets mapped to evidence (retries to ejection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.discover.config_evidence import (
    EjectionPolicy,
    FaultEvidence,
    MatchClause,
    MirrorEvidence,
    RetryEvidence,
    TimeoutEvidence,
)
from bot.discover.istio_models import (
    Abort,
    Delay,
    Destination,
    Fault,
    HttpRoute,
    OutlierDetection,
    Retries,
    TrafficPolicy,
    duration_seconds,
)
from bot.discover.k8s import Resource
from bot.spec.domain import Provenance
from bot.spec.errors import SpecProblem
from bot.spec.yamlpos import PathKey

# Istio's retry policy when a route has no `retries` block: 2 retries (3 tries) on
# "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes". Source: istio
# pilot/pkg/networking/core/route/retry/retry.go (DefaultPolicy, ConvertPolicy) and the
# MeshConfig `defaultHttpRetryPolicy` reference. `attempts` counts retries after the first try;
# a `retries` block without `attempts` (or with 0) disables retries.
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_RETRY_ON: tuple[str, ...] = (
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
    "retriable-status-codes",
)


@dataclass(frozen=True)
class HttpRule:
    """One http rule of a VirtualService as seen for one of its hosts."""

    res: Resource
    host: str
    index: int
    matches: tuple[MatchClause, ...]
    share_known: bool
    virtual_service: str

    def at(self, *fields: str | int) -> Provenance:
        return self.res.provenance("spec", "http", self.index, *fields)

    def problem(self, message: str, *fields: str | int) -> SpecProblem:
        return self.res.problem(("spec", "http", self.index, *fields), message)


class PolicyCollector:
    """Accumulates the policy evidence of each rule mapped; problems go to a shared list."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.retries: list[RetryEvidence] = []
        self.timeouts: list[TimeoutEvidence] = []
        self.faults: list[FaultEvidence] = []
        self.mirrors: list[MirrorEvidence] = []
        self.ejection: list[EjectionPolicy] = []
        self.problems = problems  # the resource collector's: problems stay in reading order

    def seconds(self, res: Resource, text: str | None, fields: PathKey) -> float | None:
        value = None if text is None else duration_seconds(text)
        if text is not None and value is None:
            message = f"expected a duration like 2s, 0.5s or 250ms, got '{text}'"
            self.problems.append(res.problem(fields, message))
        return value

    def http_rule(self, rule: HttpRule, http: HttpRoute) -> None:
        """The retry, timeout, fault and mirror policies of one routed http rule."""
        self.retries.append(self.retry(rule, http.retries))
        path = ("spec", "http", rule.index)
        timeout = self.seconds(rule.res, http.timeout, (*path, "timeout"))
        if timeout:  # Istio: no timeout by default, and "0s" turns it off
            self.timeouts.append(
                TimeoutEvidence(rule.host, rule.index, timeout, rule.at("timeout"), "istio.timeout")
            )
        if http.fault is not None:
            targets = tuple((d.destination.host, d.destination.subset) for d in http.route)
            self.fault(rule, http.fault, targets)
        self.mirror(rule, http)

    def retry(self, rule: HttpRule, retries: Retries | None) -> RetryEvidence:
        host, i = rule.host, rule.index
        if retries is None:
            return RetryEvidence(
                host,
                i,
                DEFAULT_RETRY_ATTEMPTS,
                None,
                DEFAULT_RETRY_ON,
                (),
                defaulted=True,
                source=rule.at(),
                signal="istio.retries.default",
            )
        if retries.attempts <= 0:
            return RetryEvidence(
                host,
                i,
                0,
                None,
                (),
                (),
                defaulted=False,
                source=rule.at("retries"),
                signal="istio.retries",
            )
        retry_on: tuple[str, ...] = DEFAULT_RETRY_ON
        codes: tuple[int, ...] = ()
        if retries.retry_on:
            # As Istio does: numeric parts are status codes, retried via retriable-status-codes.
            parts = [p.strip() for p in retries.retry_on.split(",") if p.strip()]
            codes = tuple(int(p) for p in parts if p.isdigit())
            retry_on = tuple(p for p in parts if not p.isdigit())
            if codes and "retriable-status-codes" not in retry_on:
                retry_on = (*retry_on, "retriable-status-codes")
        fields = ("spec", "http", i, "retries", "perTryTimeout")
        per_try = self.seconds(rule.res, retries.per_try_timeout, fields)
        return RetryEvidence(
            host,
            i,
            retries.attempts,
            per_try,
            retry_on,
            codes,
            defaulted=False,
            source=rule.at("retries", "attempts"),
            signal="istio.retries",
        )

    def fault(
        self, rule: HttpRule, fault: Fault, targets: tuple[tuple[str, str | None], ...]
    ) -> None:
        found: list[tuple[Literal["delay", "abort"], float, float | None, int | None]] = []
        if fault.delay is not None:
            fields = ("spec", "http", rule.index, "fault", "delay", "fixedDelay")
            delay = self.seconds(rule.res, fault.delay.fixed_delay, fields)
            if delay is not None:
                found.append(("delay", _share(fault.delay), delay, None))
        abort = fault.abort
        if abort is not None and (abort.http_status, abort.grpc_status, abort.http2_error) == (
            None,
            None,
            None,
        ):
            message = "an abort needs httpStatus, grpcStatus or http2Error"
            self.problems.append(rule.problem(message, "fault", "abort"))
        elif abort is not None:
            found.append(("abort", _share(abort), None, abort.http_status))
        for kind, share, delay, status in found:
            where = ("fault", "delay", "fixedDelay") if kind == "delay" else ("fault", "abort")
            self.faults.append(
                FaultEvidence(
                    rule.host,
                    rule.index,
                    kind,
                    share,
                    delay,
                    status,
                    targets,
                    rule.matches,
                    rule.share_known,
                    rule.virtual_service,
                    rule.at(*where),
                    f"istio.fault.{kind}",
                )
            )

    def mirror(self, rule: HttpRule, http: HttpRoute) -> None:
        found: list[tuple[Destination, float, Provenance]] = []
        if http.mirror is not None:
            # Istio mirrors every request when neither mirrorPercentage nor mirrorPercent is set.
            percent = (
                http.mirror_percentage.value
                if http.mirror_percentage is not None
                else 100.0
                if http.mirror_percent is None
                else http.mirror_percent
            )
            found.append((http.mirror, percent / 100.0, rule.at("mirror")))
        for k, m in enumerate(http.mirrors):
            percent = 100.0 if m.percentage is None else m.percentage.value
            found.append((m.destination, percent / 100.0, rule.at("mirrors", k)))
        for dest, share, source in found:
            self.mirrors.append(
                MirrorEvidence(
                    rule.host, rule.index, dest.host, dest.subset, share, source, "istio.mirror"
                )
            )

    def outliers(
        self,
        res: Resource,
        host: str,
        subset: str | None,
        policy: TrafficPolicy | None,
        path: PathKey,
    ) -> None:
        if policy is None:
            return
        found: list[tuple[int | None, OutlierDetection | None, PathKey]] = [
            (None, policy.outlier_detection, (*path, "outlierDetection"))
        ]
        for p, port in enumerate(policy.port_level_settings):
            number = port.port.number if port.port else None
            where = (*path, "portLevelSettings", p, "outlierDetection")
            found.append((number, port.outlier_detection, where))
        for number, od, where in found:
            if od is None:
                continue
            # consecutiveErrors is the deprecated name of the gateway-error (502/503/504) count.
            gateway = od.consecutive_gateway_errors
            self.ejection.append(
                EjectionPolicy(
                    host=host,
                    subset=subset,
                    port=number,
                    consecutive_5xx_errors=od.consecutive_5xx_errors,
                    consecutive_gateway_errors=od.consecutive_errors
                    if gateway is None
                    else gateway,
                    interval_seconds=self.seconds(res, od.interval, (*where, "interval")),
                    base_ejection_seconds=self.seconds(
                        res, od.base_ejection_time, (*where, "baseEjectionTime")
                    ),
                    max_ejection_percent=od.max_ejection_percent,
                    source=res.provenance(*where),
                    signal="istio.outlierDetection",
                )
            )


def _share(fault: Delay | Abort) -> float:
    # Istio: "If left unspecified, no request will be delayed" (likewise aborted).
    if fault.percentage is not None:
        return fault.percentage.value / 100.0
    return (fault.percent or 0) / 100.0
