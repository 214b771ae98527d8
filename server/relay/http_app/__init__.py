"""relay's HTTP surface: one Starlette app (MCP transports, health, and later webhooks,
Slack interactions and the dashboard) behind one guard, served by uvicorn."""
