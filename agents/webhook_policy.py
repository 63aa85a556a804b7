"""The pure rules of webhook delivery: which webhooks an alert goes to, what a delivery's request
carries (idempotency key, HMAC signature), which answers are worth retrying and how long to wait.

No Kafka, no network: unit-tested in tests/unit/test_webhook_policy.py; agents/webhooks.py applies them.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping

import orjson

from models.webhook import Webhook

KEY_HEADER = "Idempotency-Key"
SIGNATURE_HEADER = "X-Sports-Prophet-Signature-256"
ATTEMPT_HEADER = "X-Sports-Prophet-Attempt"
WEBHOOK_HEADER = "X-Sports-Prophet-Webhook"
# A receiver that is briefly overloaded (408, 425, 429) or failing (5xx) may take the alert later;
# any other 4xx says the request itself is refused, and sending it again changes nothing.
RETRYABLE_4XX = frozenset({408, 425, 429})


def delivery_key(alert: Mapping[str, Any]) -> str:
    """What identifies one alert everywhere: `<device_id>/<run_id>/<seq>` (seq numbers a run's alerts)."""
    return f"{alert['device_id']}/{alert['run_id']}/{alert['seq']}"


def wants(webhook: Webhook, alert: Mapping[str, Any], produced_at: float) -> bool:
    """Whether a webhook takes this alert: its device and kind filters (None: any) match, and the
    alert was raised after the webhook was registered (a new webhook is not sent the past)."""
    return ((webhook.device_id is None or webhook.device_id == alert["device_id"])
            and (webhook.kind is None or webhook.kind == alert["type"])
            and produced_at >= webhook.created_at.timestamp())


def body(webhook_id: str, alert: Mapping[str, Any]) -> bytes:
    """The request body: the same bytes on every attempt, so its signature is the same too."""
    return orjson.dumps({"webhook_id": webhook_id, "key": delivery_key(alert), "alert": alert},
                        option=orjson.OPT_SORT_KEYS)


def signature(secret: str, payload: bytes) -> str:
    """GitHub's webhook scheme: `sha256=` and the hex HMAC-SHA256 of the raw body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def headers(webhook: Webhook, alert: Mapping[str, Any], payload: bytes, attempt: int) -> dict[str, str]:
    """One attempt's headers: the idempotency key (the same across retries), the attempt number, and the
    signature when the webhook has a secret."""
    out = {"Content-Type": "application/json", KEY_HEADER: delivery_key(alert), ATTEMPT_HEADER: str(attempt),
           WEBHOOK_HEADER: webhook.webhook_id}
    if webhook.secret:
        out[SIGNATURE_HEADER] = signature(webhook.secret, payload)
    return out


def accepted(status: int) -> bool:
    return 200 <= status < 300


def retryable(status: int | None) -> bool:
    """Whether a failed attempt is worth another: no answer at all (None: refused, timed out), a 5xx,
    or a 4xx that means "later"."""
    return status is None or status >= 500 or status in RETRYABLE_4XX


def backoff_seconds(attempt: int, base: float, cap: float, jitter: float) -> float:
    """How long to wait after failed attempt number `attempt` (1, 2, ...): exponential, `base` doubled
    per attempt up to `cap`, then scaled by `jitter` in [0, 1] into its upper half ("equal jitter"),
    so workers retrying one receiver spread out but never retry at once."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + ceiling / 2 * jitter
