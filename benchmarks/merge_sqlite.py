"""Throughput of the SQLite destination: journal append and merge of BOARD_ISSUE rows.

    .venv/bin/python benchmarks/merge_sqlite.py [--rows 1000000] [--boards 1000] [--batch 1000]
                                                [--synchronous FULL] [--threads 1] [--keep DIR]

Scenarios (each a new run, all boards accepted, complete board list):
  1. append + first merge into empty tables (every row inserted);
  2. append the same rows again + merge (nothing changed: no row written);
  3. append with 1% of ISSUE_KEY values changed + merge (1% updated).
Prints rows/s for each append and merge.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from flowkit.destinations import MergePlan, SQLiteDestination
from flowkit.jira.tables import SCHEMA


def rows_for(board: int, per_board: int, changed_every: int | None, run: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    base = board * per_board
    for i in range(per_board):
        issue = base + i
        key = f"PRJ{board}-{i}"
        if changed_every and issue % changed_every == 0:
            key += f"-r{run}"
        out.append({"BOARD_ID": board, "ISSUE_ID": 10_000_000 + issue, "ISSUE_KEY": key})
    return out


def append_all(
    dest: SQLiteDestination,
    run_id: str,
    boards: int,
    per_board: int,
    batch: int,
    changed: int | None,
    run: int,
    threads: int,
) -> float:
    """Append every board's rows (in batches, as PutJournal does); returns seconds."""
    work = list(range(1, boards + 1))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not work:
                    return
                board = work.pop()
            rows = rows_for(board, per_board, changed, run)
            for i in range(0, len(rows), batch):
                dest.append_journal("BOARD_ISSUE", run_id, board, f"{run_id}-a1", rows[i : i + batch])

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--boards", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=1000, help="rows per append_journal call")
    ap.add_argument("--synchronous", default="FULL")
    ap.add_argument("--threads", type=int, default=1, help="concurrent appending threads")
    ap.add_argument("--keep", type=Path, default=None, help="directory for the database (default: temp)")
    args = ap.parse_args()

    per_board = args.rows // args.boards
    total = per_board * args.boards
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / "bench.db"
        if path.exists():
            path.unlink()
        dest = SQLiteDestination(path, schema=SCHEMA, synchronous=args.synchronous)
        dest.ensure_tables(["BOARD_ISSUE"])
        listed = frozenset(range(1, args.boards + 1))
        print(
            f"BOARD_ISSUE: {total:,} rows, {args.boards} boards, batches of {args.batch}, "
            f"synchronous={args.synchronous}, {args.threads} appending thread(s)"
        )
        scenarios = [("first merge (all inserted)", None), ("no-change re-merge", None), ("1% changed", 100)]
        for run, (label, changed) in enumerate(scenarios, start=1):
            run_id = f"run-{run}"
            secs = append_all(dest, run_id, args.boards, per_board, args.batch, changed, run, args.threads)
            print(f"  {label:28s} append: {total / secs:>12,.0f} rows/s  ({secs:6.2f} s)")
            plan = MergePlan(run_id, {b: f"{run_id}-a1" for b in listed}, listed)
            t0 = time.perf_counter()
            result = dest.merge("BOARD_ISSUE", plan)
            secs = time.perf_counter() - t0
            print(
                f"  {label:28s} merge:  {total / secs:>12,.0f} rows/s  ({secs:6.2f} s)  "
                f"ins={result.inserted:,} upd={result.updated:,} del={result.deleted:,} "
                f"unchanged={result.unchanged:,}"
            )
        t0 = time.perf_counter()
        replay = dest.merge("BOARD_ISSUE", plan)
        print(f"  replay of the last plan: {time.perf_counter() - t0:.3f} s, changed={replay.changed}")
        print(f"  counts: {dest.counts()}  journal: {dest.journal_counts()}")
        dest.close()


if __name__ == "__main__":
    main()
