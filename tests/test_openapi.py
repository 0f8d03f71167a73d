"""The OpenAPI document is kept true: schemathesis against the live service."""

import subprocess
import sys
from pathlib import Path

from .harness import Hub


def test_schemathesis_finds_no_5xx_and_every_response_matches(tmp_path):
    extra = tmp_path / "extra_config.py"
    # schema-valid creates really spawn: a quota keeps them few
    extra.write_text("c.OwnerQuota.max_notebooks = 2\n")
    hub = Hub(tmp_path / "hub", SUBMARINE_EXTRA_CONFIG=str(extra)).start()
    try:
        name = "fuzzer"
        hub.hub_api.post(f"/users/{name}")
        hub.hub_api.post("/groups/environment-admins/users", json={"users": [name]})  # writes environments too
        token = hub.user_token(name)
        schemathesis = Path(sys.executable).parent / "schemathesis"
        run = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{hub.direct}/api/v1/openapi.json",
                "--url",
                hub.direct,
                "-H",
                f"Authorization: token {token}",
                # every check but one: the API validates meaning (quantities, caps, reserved names) beyond
                # what a JSON schema can say, so schema-valid data may rightly get a 400
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                "30",
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    finally:
        hub.stop()
