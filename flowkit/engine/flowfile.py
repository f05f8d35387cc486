"""FlowFile: the immutable unit of data that moves through connections."""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any


def new_uuid() -> str:
    """A fresh FlowFile id."""
    return str(uuid_module.uuid4())


@dataclass(frozen=True)
class FlowFile:
    """An immutable FlowFile: attributes, content and an optional batch of records.

    Every change made through a `ProcessSession` returns a new version with the same `uuid`.

    Example:
        >>> ff = FlowFile(attributes={"filename": "a.txt"}, content=b"hello")
        >>> ff.attributes["filename"]
        'a.txt'
    """

    uuid: str = field(default_factory=new_uuid)
    attributes: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    records: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        # Read-only views so a processor cannot change a FlowFile behind the session's back.
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        if self.records is not None:
            object.__setattr__(self, "records", tuple(self.records))

    def evolve(self, **changes: Any) -> FlowFile:
        """A copy with the given fields changed (used by the session)."""
        return replace(self, **changes)

    @property
    def size(self) -> int:
        """Content size in bytes."""
        return len(self.content)
