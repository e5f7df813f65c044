"""Ingest: platform logs into validated, enriched, pseudonymized events and graph."""
