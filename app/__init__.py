"""sybilscope's user-facing parts: the CLI, the web UI and the briefings."""
