"""Procedural registry data (SPEC §2): pure generation and its bulk load into PostgreSQL."""
