"""The dashboard: pages under `/ui/`, their JSON API under `/api/`, live updates over
server-sent events. Pages and API hold no logic of their own: they call the service."""
