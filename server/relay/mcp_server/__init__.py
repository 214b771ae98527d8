"""relay's MCP surface: tools, resources and prompts over the services.

`server` builds the `MCPServer` and registers everything; `tools`, `coordination_tools`
and `chat_approval` are the tools (each parses its arguments, makes one service call and
returns a typed result from `schemas`); `resources`, `prompts` and `completions` the rest
of the protocol. `handle` opens the services lazily (so `initialize` and `tools/list` are
answered before the store opens), `state` holds what all requests share and the
`caller(ctx)` that names the services and the acting participant, `context` what one
request gets (its progress channel, the bounds of waits), `sessions` tracks
connections, `updates` and `logs` push resource updates and run log lines, `errors` maps
the error tree to MCP errors, and `stdio` runs the stdio transport with its fast stop.
"""
