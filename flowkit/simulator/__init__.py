"""A faithful local Jira Cloud simulator (tests, demos, benchmarks). Not part of the product path.

Nothing here imports flowkit.engine, flowkit.jira or flowkit.destinations.
"""

from flowkit.simulator.faults import FAULT_KINDS, Fault
from flowkit.simulator.generate import CALLER_EMAIL, CALLER_TOKEN, generate
from flowkit.simulator.ground_truth import TABLES, ground_truth
from flowkit.simulator.mutations import DataSet, SimulatorError
from flowkit.simulator.ratelimit import RateLimit
from flowkit.simulator.simulator import JiraSimulator

__all__ = [
    "CALLER_EMAIL",
    "CALLER_TOKEN",
    "FAULT_KINDS",
    "TABLES",
    "DataSet",
    "Fault",
    "JiraSimulator",
    "RateLimit",
    "SimulatorError",
    "generate",
    "ground_truth",
]
