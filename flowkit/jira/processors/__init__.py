"""The processors of the Jira Cloud (Agile) flow (product.md §2)."""

from flowkit.jira.processors.fetch import FetchBoardIssues, FetchBoardProjects, FetchBoardTable, FetchSprints
from flowkit.jira.processors.list_boards import ListBoards
from flowkit.jira.processors.merge_tables import MergeTables
from flowkit.jira.processors.put_journal import PutJournal
from flowkit.jira.processors.verify import VerifyConnection

__all__ = [
    "FetchBoardIssues",
    "FetchBoardProjects",
    "FetchBoardTable",
    "FetchSprints",
    "ListBoards",
    "MergeTables",
    "PutJournal",
    "VerifyConnection",
]
