"""Destinations: where journaled records land and are merged (SQLite warehouse, Snowflake)."""
