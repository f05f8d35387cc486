"""``flowkit simulator jira``: run the Jira simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from flowkit.simulator.model import VARIANTS
from flowkit.simulator.simulator import JiraSimulator


@click.group(name="simulator")
def simulator() -> None:
    """Local simulators of external systems (demos, tests, benchmarks).

    \b
    Example:
        flowkit simulator jira --port 0 --boards 20 --issues-per-board 500
    """


@simulator.command(name="jira")
@click.option("--port", default=0, show_default=True, help="TCP port on 127.0.0.1 (0: any free port).")
@click.option("--seed", default=1, show_default=True, help="Seed of the generated data set.")
@click.option("--boards", default=8, show_default=True, help="Number of boards (1-7 have fixed roles).")
@click.option("--issues-per-board", default=20, show_default=True, help="Issues per project (about per board).")
@click.option("--projects", type=int, default=None, help="Number of projects (default: max(4, boards - 3)).")
@click.option("--sprints-per-board", default=4, show_default=True, help="Sprints per scrum/simple board.")
@click.option("--latency-ms", default=0.0, show_default=True, help="Added latency per request.")
@click.option("--rate-limit", type=float, default=None, help="Token-bucket requests/second per endpoint (off).")
@click.option("--burst", default=0, help="Bucket size (default: the rate).")
@click.option("--site-rate-limit", type=float, default=None, help="Token-bucket requests/second for the whole site.")
@click.option("--site-burst", default=0, help="Site bucket size (default: the site rate).")
@click.option("--page-cap", default=50, show_default=True, help="Cap on maxResults for the Agile lists.")
@click.option("--oversized-value", is_flag=True, help="Add a board whose configuration exceeds 16 MB.")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    type=click.Choice(sorted(VARIANTS)),
    help="A payload variant recorded from real sites (repeatable), e.g. board-without-location.",
)
def jira(
    port: int,
    seed: int,
    boards: int,
    issues_per_board: int,
    projects: int | None,
    sprints_per_board: int,
    latency_ms: float,
    rate_limit: float | None,
    burst: int,
    site_rate_limit: float | None,
    site_burst: int,
    page_cap: int,
    oversized_value: bool,
    variants: tuple[str, ...],
) -> None:
    """Serve a simulated Jira Cloud site on 127.0.0.1; prints its URL and credentials.

    \b
    Example:
        flowkit simulator jira --port 0 --boards 20 --issues-per-board 500 --latency-ms 20
        flowkit simulator jira --rate-limit 10 --burst 5
        flowkit simulator jira --site-rate-limit 20 --rate-limit 10
        flowkit simulator jira --variant board-without-location --variant ids-as-strings
    """
    sim = JiraSimulator(
        seed=seed,
        boards=boards,
        issues_per_board=issues_per_board,
        projects=projects,
        sprints_per_board=sprints_per_board,
        latency_ms=latency_ms,
        page_cap=page_cap,
        oversized_value=oversized_value,
        port=port,
        variants=variants,
    )
    if rate_limit is not None:
        sim.add_rate_limit(rate_limit, burst)
    if site_rate_limit is not None:
        sim.add_rate_limit(site_rate_limit, site_burst, per_endpoint=False)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    sim.start()
    info = sim.describe()
    click.echo(f"Jira simulator listening on {sim.url}")
    click.echo(f"  Environment URL: {sim.url}")
    click.echo(f"  Jira Email:      {sim.email}")
    click.echo(f"  Jira API Token:  {sim.token}")
    click.echo(f"  data: {info['boards']} boards, {info['projects']} projects, {info['issues']} issues (seed {seed})")
    if variants:
        click.echo(f"  variants: {', '.join(sorted(variants))}")
    click.echo(f"  admin: {sim.url}/_sim/info  (Ctrl-C to stop)", nl=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        click.echo("Jira simulator stopped.")


def main() -> None:  # pragma: no cover - convenience: python -m flowkit.simulator.cli jira ...
    simulator()


if __name__ == "__main__":  # pragma: no cover
    main()
