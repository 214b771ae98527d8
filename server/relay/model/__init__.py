"""Pure data: the workflow definition, its YAML loader, expressions, runs and events."""
