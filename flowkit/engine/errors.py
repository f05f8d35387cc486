"""Exceptions the engine raises and that components may raise."""

from __future__ import annotations


class ConfigurationError(Exception):
    """The flow, a parameter or a component's configuration is wrong.

    The message is ONE line naming the file/parameter/property and the problem, and never contains a
    sensitive value. Raised by `load_flow` and by any component hook; at run time it stops the whole
    run and the CLI exits with code 2.
    """


class FlowRunningError(Exception):
    """Another process holds the run lock of this flow (a run, or `state clear` refused)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class FlowFileHandlingError(Exception):
    """A session was misused: unknown FlowFile or relationship, or FlowFiles unaccounted for at commit."""


class StateConflictError(Exception):
    """Session-staged state could not be published: the stored version moved since it was read."""
