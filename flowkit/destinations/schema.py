"""How a flow declares the tables it lands: column types, table specs and the schema.

Generic: the Jira flow declares its tables in `flowkit.jira.tables` and passes that `Schema` to
its destination. Types are Snowflake's names; each destination maps them to its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Snowflake types used by the tables.
NUMBER = "NUMBER"
VARCHAR = "VARCHAR"
BOOLEAN = "BOOLEAN"
VARIANT = "VARIANT"
TIMESTAMP_TZ = "TIMESTAMP_TZ"
TIMESTAMP_NTZ = "TIMESTAMP_NTZ"

#: SQLite column type (and so affinity) used for each Snowflake type.
SQLITE_TYPES: dict[str, str] = {
    NUMBER: "INTEGER",
    VARCHAR: "TEXT",
    BOOLEAN: "INTEGER",
    VARIANT: "TEXT",
    TIMESTAMP_TZ: "TEXT",
    TIMESTAMP_NTZ: "TEXT",
}

INSERTED_AT = "_SNOWFLAKE_INSERTED_AT"
UPDATED_AT = "_SNOWFLAKE_UPDATED_AT"
HASH = "_SNOWFLAKE_HASH"

JOURNAL_SUFFIX = "_JOURNAL"


@dataclass(frozen=True)
class Column:
    name: str
    snowflake_type: str

    @property
    def sqlite_type(self) -> str:
        return SQLITE_TYPES[self.snowflake_type]


#: Metadata columns every destination table carries after its business columns.
METADATA_COLUMNS: tuple[Column, ...] = (
    Column(INSERTED_AT, TIMESTAMP_NTZ),
    Column(UPDATED_AT, TIMESTAMP_NTZ),
    Column(HASH, VARCHAR),
)


@dataclass(frozen=True)
class TableSpec:
    """One destination table.

    - ``columns``: the business columns, in table order (metadata columns are not included;
      see ``all_columns``).
    - ``partition_column``: the business column naming the partition a row belongs to, i.e. the
      unit one completed fetch owns (for the Jira flow, the board: ``ID`` for BOARD, ``BOARD_ID``
      for the mapping tables). ``None`` when rows are shared by partitions (SPRINT): they are
      kept alive by ``retained_by`` instead.
    - ``replace_partition``: True when an accepted partition's rows become exactly its accepted
      journal rows (rows of that partition not in the journal are deleted).
    - ``retained_by``: ``(table, column)``: rows not seen in the merged journal are deleted unless
      that table still holds a row whose column references their primary key (SPRINT by
      BOARD_SPRINT.SPRINT_ID). That table must be merged first (see ``merge_order``).
    - ``indexes``: extra (non-unique) indexes on the destination table.
    """

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    partition_column: str | None
    replace_partition: bool = False
    retained_by: tuple[str, str] | None = None
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        for col in (*self.primary_key, *(c for ix in self.indexes for c in ix)):
            if col not in names:
                raise ValueError(f"{self.name}: unknown column {col}")
        if self.partition_column is not None and self.partition_column not in names:
            raise ValueError(f"{self.name}: unknown partition column {self.partition_column}")
        for c in self.columns:
            if c.snowflake_type not in SQLITE_TYPES:
                raise ValueError(f"{self.name}.{c.name}: unknown type {c.snowflake_type}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Business columns followed by the three metadata columns."""
        return self.columns + METADATA_COLUMNS

    @property
    def non_key_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name not in self.primary_key)

    @property
    def journal_name(self) -> str:
        return self.name + JOURNAL_SUFFIX

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name}")


def columns(spec: str) -> tuple[Column, ...]:
    """'ID NUMBER, NAME VARCHAR' -> columns (so a flow can declare its tables as its contract writes them)."""
    out = []
    for part in spec.split(","):
        name, typ = part.split()
        out.append(Column(name, typ))
    return tuple(out)


@dataclass(frozen=True)
class Schema:
    """The tables a flow lands, in merge order (a table another's retention depends on comes first).

    A flow owns its schema and hands it to the destination; destinations know nothing of any flow.
    """

    tables: tuple[TableSpec, ...]

    def __post_init__(self) -> None:
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError("duplicate table names in schema")
        for i, spec in enumerate(self.tables):
            if spec.retained_by and spec.retained_by[0] not in names[:i]:
                raise ValueError(f"{spec.name} is retained by {spec.retained_by[0]}, which must come before it")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def __contains__(self, name: object) -> bool:
        return any(t.name == name for t in self.tables)

    def __iter__(self) -> Iterator[TableSpec]:
        return iter(self.tables)

    def __getitem__(self, name: str) -> TableSpec:
        for spec in self.tables:
            if spec.name == name:
                return spec
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(self.names)}")

    def merge_order(self, tables: Iterable[str]) -> list[str]:
        """The given tables (deduplicated) in the order they must be merged."""
        wanted = {self[t].name for t in tables}
        return [t for t in self.names if t in wanted]

    def with_dependencies(self, tables: Iterable[str]) -> list[str]:
        """The tables plus those their retention needs (SPRINT brings BOARD_SPRINT), in merge order."""
        wanted = {self[t].name for t in tables}
        for name in list(wanted):
            ref = self[name].retained_by
            if ref:
                wanted.add(ref[0])
        return self.merge_order(wanted)
