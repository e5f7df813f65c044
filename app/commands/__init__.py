"""One module a CLI command; each exposes ``command``."""
