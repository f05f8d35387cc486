"""A faithful local Jira Cloud simulator (tests, demos, benchmarks). Not part of the product path."""
