"""Thin click shell over the library (placeholder until the engine lands)."""


def main() -> None:
    raise SystemExit("flowkit: not built yet")
