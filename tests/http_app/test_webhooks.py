"""`POST /hooks/{name}`: an HTTP request emits an event that waiting runs and triggers see,
behind the guard, over a real Services on a real SQLite file (in process, as uvicorn would)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from relay.bootstrap import Role, open_relay
from relay.config import Settings
from relay.http_app.app import create_app
from relay.model.events import event_type_problem
from relay.model.run import RunStatus
from relay.service.services import Services

TOKEN = "hook-t0ken"
BASE = "http://127.0.0.1:8765"
WAITS = """\
id: waits
steps:
  - id: deployed
    action: wait_for_event
    params: {type: deploy_done, match: {data.env: prod}, timeout_seconds: 60}
"""
TRIGGERED = """\
id: on-push
on:
  - {event: push, match: {data.ref: main}}
steps:
  - {id: hi, action: log, params: {message: "push ${{ event.data.sha }}"}}
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "waits.yaml").write_text(WAITS)
    (workflows / "on_push.yaml").write_text(TRIGGERED)
    return Settings(
        home=tmp_path / "home", workflows_path=str(workflows), auth_token=SecretStr(TOKEN)
    )


@pytest.fixture
async def relay(settings: Settings) -> AsyncIterator[Services]:
    async with open_relay(settings, Role.SERVER, participant="pytest") as relay:
        yield relay


@pytest.fixture
async def http(relay: Services, settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    app: Starlette = create_app(relay, settings)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app),
            base_url=BASE,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client,
    ):
        yield client


async def test_a_hook_resumes_the_run_waiting_for_its_event(
    relay: Services, http: httpx2.AsyncClient
) -> None:
    run, _ = await relay.runs.start_run(relay.workflows.get("waits"))
    run = await relay.runs.wait_run(run.id, 10, until=lambda r: r.status is RunStatus.WAITING)

    response = await http.post(
        "/hooks/deploy_done",
        json={"env": "prod", "sha": "abc123"},
        headers={"Idempotency-Key": "delivery-1", "X-Relay-Correlation-Id": run.id},
    )
    done = await relay.runs.wait_run(run.id, 10, until=lambda r: r.status.is_final)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["event"]["type"] == "deploy_done"
    assert answer["event"]["source"] == "webhook"
    assert answer["event"]["data"] == {"env": "prod", "sha": "abc123"}
    assert answer["event"]["correlation_id"] == run.id
    assert answer["resumed_runs"] == [run.id]
    assert done.status is RunStatus.COMPLETED
    assert done.steps[0].output["data"]["sha"] == "abc123"


async def test_a_redelivered_hook_appends_nothing(
    relay: Services, http: httpx2.AsyncClient
) -> None:
    first = await http.post("/hooks/ping", json={"n": 1}, headers={"X-GitHub-Delivery": "d-7"})
    again = await http.post("/hooks/ping", json={"n": 2}, headers={"X-GitHub-Delivery": "d-7"})

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["event"]["id"] == first.json()["event"]["id"]
    assert [e.data for e in await relay.events.list_events("ping")] == [{"n": 1}]


async def test_a_hook_starts_the_workflow_it_triggers(
    relay: Services, http: httpx2.AsyncClient
) -> None:
    response = await http.post("/hooks/push", json={"ref": "main", "sha": "f00"})
    [run_id] = response.json()["started_runs"]

    run = await relay.runs.wait_run(run_id, 10, until=lambda r: r.status.is_final)
    assert run.workflow == "on-push"
    assert run.status is RunStatus.COMPLETED
    assert run.steps[0].output == {"message": "push f00"}


async def test_json_that_is_not_an_object_arrives_under_body(http: httpx2.AsyncClient) -> None:
    listed = await http.post("/hooks/batch", json=[1, 2])
    empty = await http.post("/hooks/batch")

    assert listed.json()["event"]["data"] == {"body": [1, 2]}
    assert empty.json()["event"]["data"] == {}


@pytest.mark.parametrize(
    ("path", "content", "status", "says"),
    [
        ("/hooks/deploy", b"{not json", 400, "not JSON (line 1, column 2)"),
        ("/hooks/deploy", b"\xff\xfe\x00", 400, "not"),
        ("/hooks/..%2Fetc", b"{}", 404, "is not an event type: an event type (a webhook's name)"),
        ("/hooks/" + "x" * 101, b"{}", 404, "at most 100"),
        ("/hooks/deploy", b" " * ((1 << 20) + 1), 413, "over 1048576 bytes"),
    ],
)
async def test_bad_requests_say_what_is_wrong_and_append_nothing(
    relay: Services, http: httpx2.AsyncClient, path: str, content: bytes, status: int, says: str
) -> None:
    response = await http.post(path, content=content)

    assert response.status_code == status
    assert says in response.json()["error"]
    assert await relay.events.list_events() == []


async def test_an_overlong_idempotency_key_is_refused(
    relay: Services, http: httpx2.AsyncClient
) -> None:
    response = await http.post("/hooks/deploy", json={}, headers={"Idempotency-Key": "k" * 201})

    assert response.status_code == 400
    assert "idempotency-key header is over 200 characters" in response.json()["error"]
    assert await relay.events.list_events() == []


@pytest.mark.parametrize("authorization", [None, "Bearer wrong"])
async def test_a_hook_needs_the_token_when_one_is_set(
    relay: Services, http: httpx2.AsyncClient, authorization: str | None
) -> None:
    http.headers.pop("Authorization")
    if authorization is not None:
        http.headers["Authorization"] = authorization

    response = await http.post("/hooks/deploy", json={})

    assert response.status_code == 401
    assert await relay.events.list_events() == []


async def test_a_name_relay_emit_refuses_is_refused_with_its_message(
    relay: Services, http: httpx2.AsyncClient
) -> None:
    response = await http.post("/hooks/deploy/prod", json={})

    assert response.status_code == 404
    assert response.json() == {"error": event_type_problem("deploy/prod")}
    assert await relay.events.list_events() == []
