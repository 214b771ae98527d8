"""The workflow models: seed spellings, dependencies, retries, snapshots."""

from typing import Any

import pytest
from pydantic import ValidationError

from relay.model.workflow import (
    Defaults,
    EventTrigger,
    InputSpec,
    RetryPolicy,
    ScheduleTrigger,
    Step,
    Workflow,
    derive_step_id,
)


def make_workflow(**overrides: Any) -> Workflow:
    data: dict[str, Any] = {
        "id": "wf",
        "steps": [{"id": "a", "action": "log"}, {"id": "b", "action": "log"}],
    }
    data.update(overrides)
    return Workflow.model_validate(data)


def test_retry_delay_grows_by_the_coefficient_and_stops_at_the_maximum() -> None:
    policy = RetryPolicy(
        initial_interval_seconds=2, backoff_coefficient=3, max_interval_seconds=50, jitter=0
    )
    delays = [policy.delay_seconds(attempt, 0.5) for attempt in (1, 2, 3, 4)]
    assert delays == [2, 6, 18, 50]


def test_retry_jitter_spreads_the_delay_around_its_base() -> None:
    policy = RetryPolicy(initial_interval_seconds=10, jitter=0.1)
    assert policy.delay_seconds(1, 0.0) == pytest.approx(9.0)
    assert policy.delay_seconds(1, 0.5) == pytest.approx(10.0)
    assert policy.delay_seconds(1, 0.999999) == pytest.approx(11.0, abs=1e-4)


def test_step_id_is_derived_from_a_seed_name() -> None:
    step = Step.model_validate({"name": "Run Unit Tests!", "action": "shell"})
    assert (step.id, step.name) == ("run_unit_tests", "Run Unit Tests!")


def test_derived_id_collapses_runs_of_punctuation_and_trims_underscores() -> None:
    assert derive_step_id("  --Deploy  to: Production (EU)--") == "deploy_to_production_eu"


def test_step_name_defaults_to_its_id() -> None:
    assert Step(id="build", action="shell").name == "build"


def test_seed_retry_count_becomes_a_doubling_retry_policy() -> None:
    step = Step.model_validate(
        {"name": "x", "action": "log", "retry_count": 2, "retry_delay_seconds": 30}
    )
    assert step.retry == RetryPolicy(
        max_attempts=3, initial_interval_seconds=30, backoff_coefficient=2, max_interval_seconds=60
    )


def test_seed_retry_delay_defaults_to_five_seconds() -> None:
    step = Step.model_validate({"name": "x", "action": "log", "retry_count": 1})
    assert step.retry is not None
    assert step.retry.initial_interval_seconds == 5


def test_seed_retry_count_zero_means_no_retry() -> None:
    step = Step.model_validate({"name": "x", "action": "log", "retry_count": 0})
    assert step.retry is None
    assert step.effective_retry(Defaults()).max_attempts == 1


def test_a_long_seed_retry_delay_raises_the_maximum_interval() -> None:
    step = Step.model_validate(
        {"name": "x", "action": "log", "retry_count": 1, "retry_delay_seconds": 90}
    )
    assert step.retry is not None
    assert step.retry.max_interval_seconds == 90


def test_giving_retry_and_retry_count_is_an_error() -> None:
    with pytest.raises(ValidationError, match="retry or retry_count"):
        Step.model_validate({"id": "x", "action": "log", "retry": {}, "retry_count": 1})


def test_step_retry_and_timeout_fall_back_to_the_workflow_defaults() -> None:
    defaults = Defaults(timeout_seconds=30, retry=RetryPolicy(max_attempts=5))
    plain = Step(id="a", action="log")
    own = Step(id="b", action="log", timeout_seconds=5, retry=RetryPolicy(max_attempts=2))
    assert (plain.effective_timeout(defaults), plain.effective_retry(defaults).max_attempts) == (
        30,
        5,
    )
    assert (own.effective_timeout(defaults), own.effective_retry(defaults).max_attempts) == (5, 2)


def test_if_is_accepted_by_its_yaml_key_and_by_its_python_name() -> None:
    assert Step.model_validate({"id": "a", "action": "log", "if": "x"}).if_ == "x"
    assert Step(id="a", action="log", if_="x").if_ == "x"


def test_seed_workflow_id_becomes_the_id_and_the_name_defaults_to_it() -> None:
    workflow = Workflow.model_validate(
        {"workflow_id": "seed-flow", "steps": [{"id": "a", "action": "log"}]}
    )
    assert (workflow.id, workflow.name) == ("seed-flow", "seed-flow")


def test_giving_id_and_workflow_id_is_an_error() -> None:
    with pytest.raises(ValidationError, match="id or workflow_id"):
        make_workflow(workflow_id="other")


def test_a_workflow_needs_at_least_one_step() -> None:
    with pytest.raises(ValidationError):
        make_workflow(steps=[])


def test_steps_without_needs_run_in_file_order() -> None:
    workflow = make_workflow(steps=[{"id": s, "action": "log"} for s in ("a", "b", "c")])
    assert workflow.dependencies() == {"a": (), "b": ("a",), "c": ("b",)}


def test_needs_names_dependencies_and_an_empty_list_makes_a_root() -> None:
    workflow = make_workflow(
        steps=[
            {"id": "a", "action": "log"},
            {"id": "b", "action": "log", "needs": []},
            {"id": "c", "action": "log", "needs": ["a", "b"]},
            {"id": "d", "action": "log"},
        ]
    )
    assert workflow.dependencies() == {"a": (), "b": (), "c": ("a", "b"), "d": ("c",)}


def test_topological_order_puts_dependencies_first() -> None:
    workflow = make_workflow(
        steps=[
            {"id": "deploy", "action": "log", "needs": ["test", "build"]},
            {"id": "test", "action": "log", "needs": ["build"]},
            {"id": "build", "action": "log", "needs": []},
        ]
    )
    assert workflow.topological_order() == ["build", "test", "deploy"]


def test_topological_order_of_a_cycle_is_an_error() -> None:
    workflow = make_workflow(
        steps=[
            {"id": "a", "action": "log", "needs": ["b"]},
            {"id": "b", "action": "log", "needs": ["a"]},
        ]
    )
    with pytest.raises(ValueError, match="cycle"):
        workflow.topological_order()


def test_step_lookup_by_id_raises_key_error_for_an_unknown_id() -> None:
    workflow = make_workflow()
    assert workflow.step("b").id == "b"
    with pytest.raises(KeyError):
        workflow.step("zzz")


def test_an_input_without_default_is_required_and_one_with_a_default_is_not() -> None:
    assert InputSpec(type="integer").is_required
    assert not InputSpec(type="integer", default=3).is_required
    assert not InputSpec(type="integer", default=None).is_required
    assert not InputSpec(type="integer", required=False).is_required


def test_triggers_are_told_apart_by_their_event_or_schedule_key() -> None:
    workflow = make_workflow(
        on=[
            {"event": "process_complete", "if": "${{ event.data.ok }}"},
            {"schedule": "0 9 * * 1-5", "tz": "Europe/Paris"},
        ]
    )
    event, schedule = workflow.on
    assert isinstance(event, EventTrigger)
    assert event.if_ == "${{ event.data.ok }}"
    assert isinstance(schedule, ScheduleTrigger)


@pytest.mark.parametrize("trigger", [{}, {"event": "x", "schedule": "* * * * *"}])
def test_a_trigger_needs_exactly_one_of_event_or_schedule(trigger: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of 'event' or 'schedule'"):
        make_workflow(on=[trigger])


def test_snapshot_round_trips_to_an_equal_workflow() -> None:
    workflow = make_workflow(
        inputs={"n": {"type": "integer", "default": None}, "m": {"type": "string"}},
        on=[{"event": "e", "if": "${{ true }}"}],
        steps=[
            {"name": "First step", "action": "log", "params": {"x": None}, "retry_count": 1},
            {"id": "b", "action": "log", "if": "${{ steps.first_step.status == 'completed' }}"},
        ],
        notify={"slack": {"channel": "#ci"}},
    )
    again = Workflow.from_snapshot(workflow.snapshot())
    assert again == workflow
    assert again.snapshot() == workflow.snapshot()
    assert again.inputs["n"].is_required is False
    assert again.inputs["m"].is_required is True


def test_snapshot_uses_the_yaml_key_names() -> None:
    snapshot = make_workflow(
        steps=[{"id": "a", "action": "log", "if": "${{ true }}"}], on=[{"schedule": "* * * * *"}]
    ).snapshot()
    assert snapshot["steps"][0]["if"] == "${{ true }}"
    assert snapshot["on"] == [{"schedule": "* * * * *", "inputs": {}}]


def test_definition_hash_depends_only_on_the_definition() -> None:
    assert make_workflow().definition_hash() == make_workflow().definition_hash()
    assert make_workflow().definition_hash() != make_workflow(description="x").definition_hash()
    assert len(make_workflow().definition_hash()) == 64


def test_a_workflow_built_in_python_has_no_source_location() -> None:
    workflow = make_workflow()
    assert workflow.source_path is None
    assert workflow.location(("steps", 0)) is None
