"""The Jira Cloud (Agile) flow: Jira client, ingestion state service and processors."""
