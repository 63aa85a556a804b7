"""Webhook registration and dead letters (admin routes; delivery itself is agents/webhooks.py)."""

from __future__ import annotations

import re

from faust.web import Request, Response, View
from marshmallow import ValidationError

from cql.webhooks import MAX_DEAD_LETTERS, webhooks
from models.responses import DeadLetters, DeletedWebhook, WebhookList, WebhookOut
from models.webhook import WEBHOOK_ID_RULE, WebhookSchema
from sports_prophet.app import app
from web.devices import json_body
from web.errors import ApiError, not_found
from web.json_response import json_response
from web.openapi import CASSANDRA_AWAY, NOT_JSON, TOO_LARGE, Reply, documented

BAD_WEBHOOK_ID = f"A webhook_id that breaks {WEBHOOK_ID_RULE}"
UNKNOWN_WEBHOOK = "No webhook with this id"
WEBHOOK_ID = re.compile(WEBHOOK_ID_RULE)


def path_webhook_id(value: str) -> str:
    if not WEBHOOK_ID.fullmatch(value):
        raise ApiError(400, "invalid webhook_id", f"must match {WEBHOOK_ID_RULE}")
    return value


@app.page("/webhooks")
class Webhooks(View):
    @documented("Register a webhook: alerts of a device and/or kind are POSTed to its URL", tag="webhooks",
                body=WebhookSchema, ok=Reply(WebhookOut, 201, "Registered; alerts raised from now on are sent"),
                errors={400: NOT_JSON, 413: TOO_LARGE, 422: "A URL that is not http(s), a bad device_id or kind, "
                        "an empty secret, an unknown key", 503: CASSANDRA_AWAY})
    async def post(self, request: Request) -> Response:
        try:
            given = WebhookSchema().load(await json_body(request))
        except ValidationError as exc:
            raise ApiError(422, "invalid webhook", exc.messages) from exc
        webhook = await webhooks.register(given["url"], given.get("device_id"), given.get("kind"), given.get("secret"))
        return json_response(webhook.as_json(), status=201)

    @documented("The registered webhooks (secrets are never shown)", tag="webhooks", ok=WebhookList,
                errors={503: CASSANDRA_AWAY})
    async def get(self, request: Request) -> Response:
        return json_response({"webhooks": [w.as_json() for w in await webhooks.all(fresh=True)]})


@app.page("/webhooks/{webhook_id}")
class WebhookDetail(View):
    @documented("Delete a webhook: nothing more is sent to it, its deliveries under way included", tag="webhooks",
                ok=DeletedWebhook, errors={400: BAD_WEBHOOK_ID, 404: UNKNOWN_WEBHOOK, 503: CASSANDRA_AWAY})
    async def delete(self, request: Request, webhook_id: str) -> Response:
        if not await webhooks.delete(path_webhook_id(webhook_id)):
            raise not_found("webhook", f"{webhook_id!r} is not registered")
        return json_response({"deleted": webhook_id})


@app.page("/webhooks/{webhook_id}/dead-letters")
class WebhookDeadLetters(View):
    @documented(f"A webhook's dead letters: alerts it did not accept (at most {MAX_DEAD_LETTERS:,})",
                tag="webhooks", ok=DeadLetters, errors={400: BAD_WEBHOOK_ID, 404: UNKNOWN_WEBHOOK,
                                                        503: CASSANDRA_AWAY})
    async def get(self, request: Request, webhook_id: str) -> Response:
        if await webhooks.get(path_webhook_id(webhook_id)) is None:
            raise not_found("webhook", f"{webhook_id!r} is not registered")
        return json_response({"webhook_id": webhook_id, "dead_letters": await webhooks.dead_letters(webhook_id)})
