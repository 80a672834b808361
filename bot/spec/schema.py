"""JSON Schemas of the file formats, generated from the pydantic wire models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.spec.delta import ModelDelta
from bot.spec.journey import JourneyIntent
from bot.spec.models import AcceptedJourneyModel, DiscoveredJourneyModel

MODELS: dict[str, type[BaseModel]] = {
    "JourneyIntent": JourneyIntent,
    "AcceptedJourneyModel": AcceptedJourneyModel,
    "DiscoveredJourneyModel": DiscoveredJourneyModel,
    "ModelDelta": ModelDelta,
}


def schema_for(kind: str) -> dict[str, Any]:
    schema = MODELS[kind].model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://emac.dev/schemas/v1alpha1/{kind}.json"
    return schema
