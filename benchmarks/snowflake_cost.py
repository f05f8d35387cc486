"""What a run costs in Snowflake: statements sent, statements that need a warehouse, rows sent.

    .venv/bin/python benchmarks/snowflake_cost.py [--rows 10000 300000] [--per-board 200]
                                                  [--emulator] [--change 0.01]

For each size, three runs of BOARD + BOARD_ISSUE through `SnowflakeDestination` (journal, merge,
sync), as MergeTables drives them:
  1. first run: every row is new;
  2. no-change run: the same rows again;
  3. a run with a fraction (--change, default 1%) of ISSUE_KEY values changed.

By default the Snowflake side is a *recording* DB-API connection: it keeps every statement and the
number of rows bound, and answers ``SELECT COUNT(*)`` with the row count the destination expects
(i.e. no drift). That measures what flowkit sends, independent of any server's speed. With
``--emulator`` the statements go through the real connector to the local fakesnow emulator
(tests/fakesnow_server.py), which answers from its own tables; it is slow for large loads (a few
hundred rows a second), so keep --rows small there. A statement "needs a warehouse" by
`flowkit.destinations.snowflake.sql.needs_warehouse` (docs/destinations.md lists the rules).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flowkit.destinations import MergePlan
from flowkit.destinations.snowflake import ConnectionSettings
from flowkit.destinations.snowflake.destination import SnowflakeDestination
from flowkit.destinations.snowflake.sql import needs_warehouse
from flowkit.jira.tables import SCHEMA

COUNT = re.compile(r'^SELECT COUNT\(\*\) FROM .*\."([^"]+)"$')


class RecordingCursor:
    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self._result: list[tuple[Any, ...]] = []
        self.description: list[tuple[str]] = [("name",)]

    def execute(self, sql: str, params: Any = None) -> RecordingCursor:
        self.conn.log.append((sql, 1 if params else 0))
        match = COUNT.match(sql)
        self._result = [(self.conn.expected_count(match.group(1)),)] if match else []
        return self

    def executemany(self, sql: str, rows: Sequence[Any]) -> None:
        self.conn.log.append((sql, len(rows)))

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._result[0] if self._result else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._result

    def close(self) -> None:
        pass


class RecordingConnection:
    """Stands in for Snowflake in this benchmark only: records, and reports no drift."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self.destination: SnowflakeDestination | None = None

    def expected_count(self, table: str) -> int:
        assert self.destination is not None
        return self.destination._mirror_count(SCHEMA[table])

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def close(self) -> None:
        pass


def issue_rows(board: int, per_board: int, change: float, run: int) -> list[dict[str, object]]:
    every = int(1 / change) if change else 0
    rows: list[dict[str, object]] = []
    for i in range(per_board):
        issue = board * per_board + i
        key = f"PRJ{board}-{i}" + (f"-r{run}" if every and issue % every == 0 else "")
        rows.append({"BOARD_ID": board, "ISSUE_ID": 10_000_000 + issue, "ISSUE_KEY": key})
    return rows


def one_run(dest: SnowflakeDestination, run: int, boards: int, per_board: int, change: float) -> None:
    run_id = f"run{run}"
    for board in range(1, boards + 1):
        dest.append_journal("BOARD", run_id, board, "a", [{"ID": board, "NAME": f"Board {board}", "TYPE": "scrum"}])
        rows = issue_rows(board, per_board, change, run)
        for i in range(0, len(rows), 5000):  # PutJournal's page size for issues
            dest.append_journal("BOARD_ISSUE", run_id, board, "a", rows[i : i + 5000])
    plan = MergePlan(run_id, {b: "a" for b in range(1, boards + 1)}, frozenset(range(1, boards + 1)))
    for table in ("BOARD", "BOARD_ISSUE"):
        dest.merge(table, plan)
    dest.prune_journal(None)


@contextmanager
def destination(emulator: bool, home: Path) -> Iterator[tuple[SnowflakeDestination, Any]]:
    if not emulator:
        recording = RecordingConnection()
        settings = ConnectionSettings(
            login=dict, endpoint={}, session={}, account="bench", database="RAW", schema="JIRA"
        )
        dest = SnowflakeDestination(settings, schema=SCHEMA, home=home, connect=lambda **_: recording)
        recording.destination = dest
        yield dest, recording
        dest.close()
        return
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.snowflake_emulator import run_emulator, unique_name

    with run_emulator(home / "emulator") as emu:
        database = unique_name("BENCH")
        emu.create_schema(database, "JIRA")
        dest = SnowflakeDestination(emu.settings(database, "JIRA"), schema=SCHEMA, home=home)
        yield dest, emu
        dest.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 300_000], help="BOARD_ISSUE rows")
    parser.add_argument("--per-board", type=int, default=200)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--emulator", action="store_true", help="send to the local fakesnow emulator")
    args = parser.parse_args()
    print(f"{'rows':>8} {'run':<10} {'statements':>10} {'need WH':>8} {'rows sent':>10} {'seconds':>8}")
    for total in args.rows:
        boards = max(1, total // args.per_board)
        with tempfile.TemporaryDirectory() as tmp, destination(args.emulator, Path(tmp)) as (dest, _):
            dest.ensure_tables(["BOARD", "BOARD_ISSUE"])
            for run, (label, change) in enumerate(
                (("first", 0.0), ("no change", 0.0), (f"{args.change:.0%} change", args.change)), start=1
            ):
                dest.statements.clear()
                rows_before = dest.rows_sent
                started = time.perf_counter()
                one_run(dest, run, boards, args.per_board, change)
                elapsed = time.perf_counter() - started
                sent = list(dest.statements)
                print(
                    f"{boards * args.per_board:>8} {label:<10} {len(sent):>10} "
                    f"{sum(needs_warehouse(s) for s in sent):>8} {dest.rows_sent - rows_before:>10} {elapsed:>8.2f}"
                )


if __name__ == "__main__":
    main()
