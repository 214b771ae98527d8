"""The application service: the one place each thing relay does is done.

Every surface (the CLI, the MCP server, the HTTP app and dashboard, the Python hooks)
calls these services and holds no logic of its own. `relay.bootstrap` builds one set of
them per process (`services.Services`), each taking what it needs in its constructor:

- `workflows`: definitions from the catalog or inline, validation;
- `runs`: starting, reading, following (`wait_run`, settled states), cancelling, resuming;
- `events`: the shared log (appending, pages, waiting), the seed's process hooks;
- `coordination`: approval gates and the tasks handed to participants;
- `notifications`: the outbox as callers see it;
- `presence`: who is around (participants, live workers);
- `triggers`: event and schedule triggers.

A call acts as this process's participant unless it names another (`by=`): an MCP
server passes each client's name. The shapes the services return are in `views`.
"""
