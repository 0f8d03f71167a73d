"""The spawners' client of the service retries a report the service did not take, and gives up
on one that no longer concerns the server's latest start. Against a small HTTP server of the
test's that answers as the service does when it is overloaded (503), then takes the report."""

import asyncio
import json
from types import SimpleNamespace

from tornado import web

from submarine_spawner.service import SubmarineServiceClient

from .harness import free_port

BODY = {"owner": "ann", "server": "nb", "event": "stopped", "message": None}


def reports_taken(busy_answers: int, current=lambda: True, patience=30.0) -> list[dict]:
    """The reports the service took, when it first answers 503 ``busy_answers`` times."""
    taken, answers = [], iter([503] * busy_answers)

    class Report(web.RequestHandler):
        def post(self):
            code = next(answers, 200)
            if code == 200:
                taken.append(json.loads(self.request.body))
            self.set_status(code)
            self.finish({"code": code, "message": "busy" if code == 503 else "ok", "result": None})

    async def run():
        port = free_port()
        server = web.Application([(r"/api/v1/spawner/report", Report)]).listen(port, "127.0.0.1")
        services = {
            "submarine": SimpleNamespace(url=f"http://127.0.0.1:{port}"),
            "submarine-spawner": SimpleNamespace(api_token="spawner-token"),
        }
        spawner = SimpleNamespace(user=SimpleNamespace(settings={"services": services}), _log_name="ann:nb")
        client = SubmarineServiceClient(report_patience=patience)
        try:
            await client.report(spawner, BODY, current=current)
        finally:
            server.stop()

    asyncio.run(run())
    return taken


def test_a_report_the_service_was_too_busy_for_is_retried_until_taken():
    assert reports_taken(busy_answers=2) == [BODY]


def test_a_report_about_an_earlier_start_is_not_retried():
    assert reports_taken(busy_answers=1, current=lambda: False) == []


def test_a_report_is_given_up_after_the_patience():
    assert reports_taken(busy_answers=10, patience=2) == []
