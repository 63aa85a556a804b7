"""Webhooks: the body of `POST /webhooks` and the registration record workers deliver alerts with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, validate

from models.device import IDENTIFIER, IDENTIFIER_RULE, braces_escaped

ALERT_KINDS = ("threshold", "data_delay")        # the `type` of the run agent's alerts (agents/run_state.py)
WEBHOOK_ID_RULE = r"^[0-9a-f]{32}$"              # a uuid4's hex, issued by POST /webhooks
MAX_URL_CHARS = 2048
MAX_SECRET_CHARS = 256


class WebhookSchema(Schema):
    """A registration: where to POST alerts, and which ones (no filter: every alert of every run).
    Only http and https URLs; an admin registers them, so no further address checks (docs/operations.md)."""

    url = fields.String(required=True, validate=[
        validate.Length(max=MAX_URL_CHARS),
        validate.URL(schemes={"http", "https"}, require_tld=False, error="must be an http:// or https:// URL")],
        metadata={"example": "https://coach.example/alerts"})
    device_id = fields.String(validate=validate.Regexp(IDENTIFIER, error=braces_escaped(
        f"must match {IDENTIFIER_RULE}")), metadata={"description": "Only this device's alerts", "example": "gps_1"})
    kind = fields.String(validate=validate.OneOf(ALERT_KINDS), metadata={
        "description": "Only alerts of this type"})
    secret = fields.String(validate=validate.Length(1, MAX_SECRET_CHARS), load_only=True, metadata={
        "description": "Signs each body: `X-Sports-Prophet-Signature-256: sha256=<hex HMAC-SHA256 of the body>`"})


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    url: str
    device_id: str | None
    kind: str | None
    secret: str | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        """What the API answers: never the secret, only whether there is one."""
        return {"webhook_id": self.webhook_id, "url": self.url, "device_id": self.device_id, "kind": self.kind,
                "signed": bool(self.secret), "created_at": self.created_at.isoformat()}
