"""Wire model of OpenSLO v1 `SLO` and `DataSource` documents (the subset EmaC binds leaves to)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from bot.spec.wire import Duration, ObjectMeta, OpenModel, WireModel

API_VERSION = "openslo/v1"


class MetricSourceSpec(OpenModel):
    """Vendor-specific query block (`query`, `promql`, ...): kept as written."""


class MetricSource(WireModel):
    type: str | None = None
    metric_source_ref: str | None = None
    spec: MetricSourceSpec = MetricSourceSpec()


class MetricQuery(WireModel):
    metric_source: MetricSource


class RatioMetric(WireModel):
    counter: bool = True
    good: MetricQuery | None = None
    bad: MetricQuery | None = None
    total: MetricQuery
    raw_type: Literal["success", "failure"] | None = None
    raw: MetricQuery | None = None


class IndicatorSpec(WireModel):
    ratio_metric: RatioMetric | None = None
    threshold_metric: MetricQuery | None = None


class Indicator(WireModel):
    metadata: ObjectMeta
    spec: IndicatorSpec


class TimeWindow(WireModel):
    duration: Duration
    is_rolling: bool = True
    calendar: dict[str, Any] | None = None


class Objective(WireModel):
    display_name: str | None = None
    op: Literal["lt", "lte", "gt", "gte"] | None = None
    value: float | None = None
    target: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    target_percent: Annotated[float, Field(gt=0.0, le=100.0)] | None = None
    time_slice_target: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    time_slice_window: Duration | None = None
    indicator_ref: str | None = None
    composite_weight: float | None = None

    def ratio(self) -> float | None:
        """The objective as a ratio in (0, 1], whichever of target/targetPercent was written."""
        if self.target is not None:
            return self.target
        if self.target_percent is not None:
            return self.target_percent / 100.0
        return None


class SLOSpec(WireModel):
    description: str | None = None
    service: str
    indicator: Indicator | None = None
    indicator_ref: str | None = None
    time_window: list[TimeWindow] = []
    budgeting_method: Literal["Occurrences", "Timeslices", "RatioTimeslices"] = "Occurrences"
    objectives: Annotated[list[Objective], Field(min_length=1)]
    alert_policies: list[Any] = []


class SLO(WireModel):
    """An OpenSLO v1 service level objective."""

    api_version: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: ObjectMeta
    spec: SLOSpec


class DataSourceSpec(WireModel):
    type: str
    description: str | None = None
    connection_details: dict[str, Any] = {}


class DataSource(WireModel):
    """An OpenSLO v1 data source (where the SLI queries run)."""

    api_version: Literal["openslo/v1"]
    kind: Literal["DataSource"]
    metadata: ObjectMeta
    spec: DataSourceSpec
