"""The assembled worker: the app with every agent and web view attached.

Registration flows one way: each component module imports `app` from `sports_prophet.app` and
attaches its agents, tables, tasks or views; only this module imports the components.
"""

from __future__ import annotations

import agents.runs  # noqa: F401
import agents.silence  # noqa: F401
import agents.sink  # noqa: F401
import agents.webhooks  # noqa: F401
import web.dashboard  # noqa: F401
import web.devices  # noqa: F401
import web.docs  # noqa: F401
import web.export  # noqa: F401
import web.forecasts  # noqa: F401
import web.health  # noqa: F401
import web.history  # noqa: F401
import web.index  # noqa: F401
import web.ingest  # noqa: F401
import web.live  # noqa: F401
import web.matches  # noqa: F401
import web.metrics  # noqa: F401
import web.openapi  # noqa: F401
import web.segments  # noqa: F401
import web.send_stream  # noqa: F401
import web.topics  # noqa: F401
import web.webhooks  # noqa: F401
from sports_prophet.app import app

__all__ = ["app"]
