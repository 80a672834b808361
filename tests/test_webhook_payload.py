"""Payload decoding: the same objects `json` gives for every real payload, and the same
answers for what only `json` accepts or what nothing accepts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.github.webhook import decode_payload
from tests.test_webhook_support import WEBHOOKS

JSON = "application/json"


def reference_payloads() -> list[Path]:
    return sorted(WEBHOOKS.rglob("*.json"))


@pytest.mark.parametrize("path", reference_payloads(), ids=lambda p: p.parent.name + "/" + p.name)
def test_every_reference_payload_decodes_as_json_decodes_it(path: Path) -> None:
    body = path.read_bytes()
    assert decode_payload(body, JSON) == json.loads(body)


def test_reference_payloads_are_there() -> None:
    assert len(reference_payloads()) >= 10


def test_a_form_encoded_payload_decodes_alike() -> None:
    payload = {"action": "opened", "number": 7, "title": "größer ✓"}
    form = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    assert decode_payload(form, "application/x-www-form-urlencoded; charset=utf-8") == payload


def test_what_only_json_accepts_still_decodes() -> None:
    decoded = decode_payload(b'{"n": NaN, "big": 123456789012345678901234567890}', JSON)
    assert math.isnan(decoded["n"]) and decoded["big"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "Expecting property name enclosed in double quotes: line 1 column 2"),
        (b'{"a": "\xff"}', "codec can't decode byte 0xff"),
        (b"[1, 2]", "expected a JSON object, found list"),
        (b"\xef\xbb\xbf{}", "Unexpected UTF-8 BOM"),
    ],
)
def test_what_nothing_accepts_is_refused_in_jsons_words(body: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        decode_payload(body, JSON)


def test_deep_nesting_is_refused_not_crashed() -> None:
    with pytest.raises((ValueError, RecursionError)):
        decode_payload(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON)
