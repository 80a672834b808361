"""`emac schema` is generated from the wire models; the committed copies editors use match it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.spec.schema import MODELS, schema_for
from tests.conftest import FIXTURES, ROOT, emac


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_committed_schema_matches_the_models(kind: str) -> None:
    committed = ROOT / "schemas" / f"{kind}.schema.json"
    generated = json.dumps(schema_for(kind), indent=2, sort_keys=True) + "\n"
    if os.environ.get("EMAC_UPDATE_GOLDENS") == "1":
        committed.write_text(generated)
    assert committed.read_text() == generated, f"run EMAC_UPDATE_GOLDENS=1 pytest ({kind})"


def test_cli_prints_the_journey_intent_schema() -> None:
    proc = emac("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$id"].endswith("/JourneyIntent.json")
    assert schema["additionalProperties"] is False


def test_our_specs_validate_against_the_published_schema() -> None:
    schema = schema_for("JourneyIntent")
    for path in [
        FIXTURES / "checkout/spec/checkout.yaml",
        *Path(FIXTURES / "journeys").rglob("*.yaml"),
    ]:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc.get("kind") == "JourneyIntent":
                jsonschema.validate(doc, schema)


def test_the_published_schema_rejects_an_unknown_key() -> None:
    doc = yaml.safe_load((FIXTURES / "checkout/spec/checkout.yaml").read_text())
    doc["spec"]["operator"]["stpes"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema_for("JourneyIntent"))
