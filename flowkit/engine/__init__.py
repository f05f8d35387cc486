"""The flow engine: NiFi concepts (Processor, ProcessSession, FlowFile, ...) in plain Python. Knows nothing about Jira."""
