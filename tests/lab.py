"""A notebook's JupyterLab as its owner reaches it: through the hub's proxy, with a token."""

import asyncio
import json
import uuid

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .harness import Api


def lab(hub, owner: str, server: str, token: str) -> Api:
    """The lab server's REST API (``/api/...``)."""
    return Api(f"{hub.public}/user/{owner}/{server}", token)


async def _execute(url: str, token: str, code: str) -> str:
    connection = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    connection.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "buffers": [],
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            }
        )
    )
    output = []
    try:
        while True:
            message = await connection.read_message()
            assert message is not None, "the kernel's websocket closed"
            message = json.loads(message)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(output)
    finally:
        connection.close()


def run_in_kernel(hub, owner: str, server: str, token: str, kernel: str, code: str) -> str:
    """Start a kernel ``kernel`` in the lab, run ``code`` over its websocket, return its stdout."""
    api = lab(hub, owner, server, token)
    response = api.post("/api/kernels", json={"name": kernel})
    assert response.status_code == 201, response.text
    kernel_id = response.json()["id"]
    try:
        url = f"ws://127.0.0.1:{hub.port}/user/{owner}/{server}/api/kernels/{kernel_id}/channels"
        return asyncio.run(asyncio.wait_for(_execute(url, token, code), 120))
    finally:
        api.delete(f"/api/kernels/{kernel_id}")
