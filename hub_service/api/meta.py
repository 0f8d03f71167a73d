"""About the service itself: its OpenAPI document and its Prometheus metrics."""

import json

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import metrics, statuses
from ..errors import ApiError
from .base import ApiHandler


class OpenAPIHandler(ApiHandler):
    """The API's description holds no data: served without a token, as API descriptions are."""

    async def prepare(self):
        pass

    async def get(self):
        self.finish(json.dumps(self.settings["openapi"]))


class MetricsHandler(ApiHandler):
    """Prometheus format, for admins or tokens with the hub's ``read:metrics`` scope."""

    async def prepare(self):
        if self.settings["authenticate_prometheus"]:
            await super().prepare()
            if not self.caller.metrics:
                raise ApiError(403, "Metrics need an admin or the read:metrics scope")

    async def get(self):
        counts = await self.settings["notebooks"].counts()
        for status in statuses.ALL:
            metrics.NOTEBOOKS.labels(status).set(counts.get(status, 0))
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())
