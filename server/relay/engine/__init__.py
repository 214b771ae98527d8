"""Execution: the engine that drives runs, and the actions their steps call.

`engine` (the `Engine`) claims runs under leases, renews them and hands them back on
shutdown; it gives each claimed run a `driver.RunDriver`, which advances the run in
memory and records every transition through `record.Recorder` in one store transaction,
parking the run when nothing can move until someone acts or a timer fires. `steps` runs
one attempt of an action; `waiting_start` and `waiting` start and settle the waiting
steps (approvals, events, tasks, delays, child workflows). `actions` holds the registry
(`ActionSpec`, `@relay.action`, plugins); `builtin_actions`, `shell`, `mcp_call` and
`notify_action` are the built-ins. `runtime` is what every driver shares: the store, the
registry, this process's worker id and clock.
"""
