"""Actions the seed's workflows use that relay does not ship, as a user would provide them
(named by RELAY_PLUGINS). They record each call so the tests can count them."""

import json
import os
from typing import Any

import relay


def _record(name: str, params: dict[str, Any]) -> dict[str, Any]:
    log = os.environ.get("SEED_PLUGIN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"action": name, **params}) + "\n")
    return {"action": name, "ok": True}


@relay.action("run_tests")
def run_tests(test_suite: str, test_type: str = "unit", coverage: bool = False) -> dict[str, Any]:
    return {**_record("run_tests", {"suite": test_suite}), "passed": 3, "failed": 0}


@relay.action("generate_report")
def generate_report(**params: Any) -> dict[str, Any]:
    return _record("generate_report", params)


@relay.action("request_approval")
def request_approval(approval_message: str, timeout_minutes: float = 60) -> dict[str, Any]:
    return _record("request_approval", {"message": approval_message})


@relay.action("deploy")
async def deploy(environment: str, rollback_enabled: bool = False) -> dict[str, Any]:
    return _record("deploy", {"environment": environment})


@relay.action("health_check")
def health_check(environment: str, checks: list[str]) -> dict[str, Any]:
    return _record("health_check", {"checks": checks})


@relay.action("notify")
def notify(message: str, channel: str | None = None, **extra: Any) -> dict[str, Any]:
    return _record("notify", {"message": message})
