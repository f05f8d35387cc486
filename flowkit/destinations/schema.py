"""The destination tables, declared once (product.md section 4).

Names, column order and Snowflake types here are the public contract: the SQLite warehouse,
the Snowflake destination, the Jira processors and the simulator's ground truth all read them.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    - ``scope_column``: the business column holding the board a row belongs to (``ID`` for BOARD,
      ``BOARD_ID`` for the mapping tables). ``None`` for SPRINT: a sprint can be shared by boards,
      its rows are kept alive by ``retained_by`` instead.
    - ``replace_scope``: True for the mapping tables: an accepted board's rows become exactly its
      accepted journal rows (rows of that board not in the journal are deleted).
    - ``retained_by``: ``(table, column)``: rows not seen in the merged journal are deleted unless
      that table still holds a row whose column references their primary key (SPRINT by
      BOARD_SPRINT.SPRINT_ID). That table must be merged first (see ``merge_order``).
    - ``indexes``: extra (non-unique) indexes on the destination table.
    """

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    scope_column: str | None
    replace_scope: bool = False
    retained_by: tuple[str, str] | None = None
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        for col in (*self.primary_key, *(c for ix in self.indexes for c in ix)):
            if col not in names:
                raise ValueError(f"{self.name}: unknown column {col}")
        if self.scope_column is not None and self.scope_column not in names:
            raise ValueError(f"{self.name}: unknown scope column {self.scope_column}")
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


def _cols(spec: str) -> tuple[Column, ...]:
    """'ID NUMBER, NAME VARCHAR' -> columns (written exactly like product.md section 4)."""
    out = []
    for part in spec.split(","):
        name, typ = part.split()
        out.append(Column(name, typ))
    return tuple(out)


BOARD = TableSpec(
    name="BOARD",
    primary_key=("ID",),
    columns=_cols(
        "ID NUMBER, NAME VARCHAR, TYPE VARCHAR, SELF VARCHAR, IS_PRIVATE BOOLEAN, LOCATION_TYPE VARCHAR, "
        "LOCATION_PROJECT_ID NUMBER, LOCATION_PROJECT_KEY VARCHAR, LOCATION_PROJECT_NAME VARCHAR, "
        "LOCATION_PROJECT_TYPE_KEY VARCHAR, LOCATION_USER_ACCOUNT_ID VARCHAR, LOCATION_DISPLAY_NAME VARCHAR, "
        "FILTER_ID NUMBER, FILTER_NAME VARCHAR, FILTER_JQL VARCHAR, SUB_QUERY VARCHAR, "
        "COLUMN_CONFIG VARIANT, ESTIMATION VARIANT, RANK_CUSTOM_FIELD_ID NUMBER"
    ),
    scope_column="ID",
)

SPRINT = TableSpec(
    name="SPRINT",
    primary_key=("ID",),
    columns=_cols(
        "ID NUMBER, SELF VARCHAR, STATE VARCHAR, NAME VARCHAR, "
        "START_DATE TIMESTAMP_TZ, END_DATE TIMESTAMP_TZ, "
        "COMPLETE_DATE TIMESTAMP_TZ, CREATED_DATE TIMESTAMP_TZ, ORIGIN_BOARD_ID NUMBER, GOAL VARCHAR"
    ),
    scope_column=None,
    retained_by=("BOARD_SPRINT", "SPRINT_ID"),
)

BOARD_SPRINT = TableSpec(
    name="BOARD_SPRINT",
    primary_key=("BOARD_ID", "SPRINT_ID"),
    columns=_cols("BOARD_ID NUMBER, SPRINT_ID NUMBER"),
    scope_column="BOARD_ID",
    replace_scope=True,
    indexes=(("SPRINT_ID",),),
)

BOARD_PROJECT = TableSpec(
    name="BOARD_PROJECT",
    primary_key=("BOARD_ID", "PROJECT_ID"),
    columns=_cols(
        "BOARD_ID NUMBER, PROJECT_ID NUMBER, PROJECT_KEY VARCHAR, PROJECT_NAME VARCHAR, PROJECT_TYPE_KEY VARCHAR"
    ),
    scope_column="BOARD_ID",
    replace_scope=True,
)

BOARD_ISSUE = TableSpec(
    name="BOARD_ISSUE",
    primary_key=("BOARD_ID", "ISSUE_ID"),
    columns=_cols("BOARD_ID NUMBER, ISSUE_ID NUMBER, ISSUE_KEY VARCHAR"),
    scope_column="BOARD_ID",
    replace_scope=True,
)

#: Every destination table by name, in merge order.
TABLES: dict[str, TableSpec] = {t.name: t for t in (BOARD, BOARD_SPRINT, SPRINT, BOARD_PROJECT, BOARD_ISSUE)}

#: Tables that are always on; the others are enabled by the ``Enabled Tables`` parameter.
ALWAYS_ENABLED: tuple[str, ...] = ("BOARD",)

#: ``Enabled Tables`` value -> destination tables it fills (SPRINT fills SPRINT and BOARD_SPRINT).
ENABLED_TABLE_GROUPS: dict[str, tuple[str, ...]] = {
    "SPRINT": ("SPRINT", "BOARD_SPRINT"),
    "BOARD_PROJECT": ("BOARD_PROJECT",),
    "BOARD_ISSUE": ("BOARD_ISSUE",),
}


def get_table(name: str) -> TableSpec:
    """The spec of a destination table; KeyError naming the valid tables otherwise."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None


def merge_order(tables: Iterable[str]) -> list[str]:
    """The given tables (deduplicated) in the order they must be merged: a table that another
    table's retention depends on comes first (BOARD_SPRINT before SPRINT)."""
    wanted = {get_table(t).name for t in tables}
    order = list(TABLES)
    return [t for t in order if t in wanted]


def tables_for_enabled(enabled: Iterable[str]) -> list[str]:
    """Destination tables filled for an ``Enabled Tables`` selection (BOARD always), in merge order."""
    out: set[str] = set(ALWAYS_ENABLED)
    for name in enabled:
        try:
            out.update(ENABLED_TABLE_GROUPS[name])
        except KeyError:
            raise KeyError(f"unknown table {name!r}; valid values: {', '.join(ENABLED_TABLE_GROUPS)}") from None
    return merge_order(out)
