"""Webhook signatures: `X-Hub-Signature-256` (HMAC-SHA256 of the body), checked in constant time."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends for `body` signed with `secret`."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_is_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body`; a missing or malformed header is invalid."""
    if not header or not header.startswith(PREFIX):
        return False
    # compare_digest needs both sides ASCII; a non-ASCII header cannot be a valid signature.
    if not header.isascii():
        return False
    return hmac.compare_digest(sign(secret, body), header)
