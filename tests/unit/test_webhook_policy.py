"""The pure rules of webhook delivery: filters, the request's key and signature, retries and back-off."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

import orjson
import pytest
from marshmallow import ValidationError

from agents.webhook_policy import (KEY_HEADER, SIGNATURE_HEADER, backoff_seconds, body, delivery_key, headers,
                                   retryable, wants)
from models.webhook import Webhook, WebhookSchema

REGISTERED = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
ALERT = {"device_id": "gps_1", "run_id": "r1", "seq": 3, "type": "threshold", "field": "hr", "value": 190,
         "min": 100, "max": 150, "t": 1.0}


def hook(device_id: str | None = None, kind: str | None = None, secret: str | None = None) -> Webhook:
    return Webhook("ab" * 16, "http://127.0.0.1:9/in", device_id, kind, secret, REGISTERED)


@pytest.mark.parametrize("device_id, kind, taken", [
    (None, None, True), ("gps_1", None, True), ("gps_2", None, False),
    (None, "threshold", True), (None, "data_delay", False), ("gps_1", "threshold", True), ("gps_1", "data_delay", False),
])
def test_a_webhook_takes_the_alerts_its_filters_match(device_id, kind, taken):
    assert wants(hook(device_id, kind), ALERT, REGISTERED.timestamp() + 1) is taken


def test_alerts_raised_before_the_registration_are_not_sent():
    assert not wants(hook(), ALERT, REGISTERED.timestamp() - 0.001)
    assert wants(hook(), ALERT, REGISTERED.timestamp())


def test_every_attempt_carries_the_alerts_key_and_a_verifiable_signature():
    webhook = hook(secret="s3cret")
    payload = body(webhook.webhook_id, ALERT)
    first, third = headers(webhook, ALERT, payload, 1), headers(webhook, ALERT, payload, 3)
    assert first[KEY_HEADER] == third[KEY_HEADER] == delivery_key(ALERT) == "gps_1/r1/3"
    assert orjson.loads(payload)["alert"] == ALERT and body(webhook.webhook_id, dict(reversed(ALERT.items()))) == payload
    expected = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
    assert first[SIGNATURE_HEADER] == third[SIGNATURE_HEADER] == f"sha256={expected}"
    assert SIGNATURE_HEADER not in headers(hook(), ALERT, payload, 1)


@pytest.mark.parametrize("status, again", [
    (None, True), (500, True), (503, True), (429, True), (408, True), (400, False), (404, False), (410, False),
])
def test_no_answer_5xx_and_later_please_are_retried_other_refusals_are_not(status, again):
    assert retryable(status) is again


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_in_the_upper_half():
    assert [backoff_seconds(n, 0.5, 4.0, 1.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [backoff_seconds(n, 0.5, 4.0, 0.0) for n in range(1, 5)] == [0.25, 0.5, 1.0, 2.0]
    assert backoff_seconds(3, 0.5, 4.0, 0.5) == pytest.approx(1.5)


@pytest.mark.parametrize("given, field", [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "file:///etc/passwd"}, "url"),
    ({"url": "not a url"}, "url"),
    ({}, "url"),
    ({"url": "http://127.0.0.1:8080/in", "device_id": "bad id!"}, "device_id"),
    ({"url": "http://127.0.0.1:8080/in", "kind": "everything"}, "kind"),
    ({"url": "http://127.0.0.1:8080/in", "secret": ""}, "secret"),
    ({"url": "http://127.0.0.1:8080/in", "extra": 1}, "extra"),
])
def test_bad_registrations_name_the_field(given, field):
    with pytest.raises(ValidationError) as raised:
        WebhookSchema().load(given)
    assert field in raised.value.messages


def test_a_good_registration_loads():
    given = {"url": "https://coach.example/alerts", "device_id": "gps_1", "kind": "data_delay", "secret": "k"}
    assert WebhookSchema().load(given) == given
    assert WebhookSchema().load({"url": "http://localhost:8080/in"}) == {"url": "http://localhost:8080/in"}
