"""Topic admin routes of the old system. They touch only the project's `readings.*` run topics,
never Faust's internal, changelog or repartition topics. Deleting a run's topic deletes its live
state too (a run streamed again under the same id starts afresh); its archive stays."""

from __future__ import annotations

from faust.web import Request, Response, View

from agents.runs import delete_runs
from models.queries import DEFAULT_MESSAGES, MAX_MESSAGES, TopicMessagesQuery
from models.responses import DeletedTopics, TopicList
from models.responses import TopicMessages as TopicMessagesOut
from models.run import run_topic
from sports_prophet.app import app, gateway
from sports_prophet.kafka import UnknownTopic
from web.devices import path_id
from web.errors import not_found
from web.json_response import json_response
from web.openapi import BAD_ID, KAFKA_AWAY, documented
from web.params import query_int

NO_TOPIC = "Nothing was streamed for the run (no topic), or its topic was deleted"


async def existing_run_topic(device_id: str, run_id: str) -> str:
    topic = run_topic(path_id(device_id, "device_id"), path_id(run_id, "run_id"))
    if topic not in await gateway.run_topics():
        raise not_found("run", f"no topic {topic}: nothing was streamed for {device_id}/{run_id}")
    return topic


@app.page("/list-topics")
class ListTopics(View):
    @documented("The run topics", tag="topics", ok=TopicList, errors={503: KAFKA_AWAY})
    async def get(self, request: Request) -> Response:
        return json_response({"topics": await gateway.run_topics()})


@app.page("/get-topic-messages/{device_id}/{run_id}")
class TopicMessages(View):
    """The newest readings of a run, newest first (`limit`, default 100, at most 10,000)."""

    @documented("A run's newest readings, from its topic", tag="topics", query=TopicMessagesQuery,
                ok=TopicMessagesOut, errors={400: BAD_ID, 404: NO_TOPIC,
                                             422: "`limit` out of range or not in ASCII digits", 503: KAFKA_AWAY})
    async def get(self, request: Request, device_id: str, run_id: str) -> Response:
        limit = query_int(request, "limit", DEFAULT_MESSAGES, MAX_MESSAGES)
        topic = await existing_run_topic(device_id, run_id)
        try:
            return json_response({"messages": await gateway.latest_readings(topic, limit)})
        except UnknownTopic as exc:
            raise not_found("run", f"topic {topic} was deleted") from exc


@app.page("/delete-topic/{device_id}/{run_id}")
class DeleteTopic(View):
    @documented("Delete a run's topic and live state (its archive stays)", tag="topics", ok=DeletedTopics,
                errors={400: BAD_ID, 404: NO_TOPIC, 503: KAFKA_AWAY})
    async def delete(self, request: Request, device_id: str, run_id: str) -> Response:
        topic = await existing_run_topic(device_id, run_id)
        await delete_runs([topic])
        return json_response({"deleted": [topic]})


@app.page("/delete-all-topics")
class DeleteAllTopics(View):
    @documented("Delete every run topic (never Faust's own)", tag="topics", ok=DeletedTopics, errors={503: KAFKA_AWAY})
    async def delete(self, request: Request) -> Response:
        topics = await gateway.run_topics()
        await delete_runs(topics)
        return json_response({"deleted": topics})
