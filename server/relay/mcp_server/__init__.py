"""relay's MCP surface: tools, resources and prompts over the shared service layer."""
