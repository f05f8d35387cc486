"""flowkit: a small NiFi-style flow engine and the Jira Cloud (Agile) flow."""

__version__ = "0.1.0"
