"""`sports-prophet`: the project's one command line.

  sports-prophet worker [faust worker options]   run a worker (gateway + agents + web views)
  sports-prophet supervise LOGFILE [options]     run a worker, restarting it with back-off if it crashes
  sports-prophet simulate [match|weather|phone|example] [...]
                                                 stream simulated devices into a worker (default: a match)
  sports-prophet replay FILE... [...]            stream a recorded GPX, CSV or tracking file into a worker
  sports-prophet schema                          apply cql/*.cql to Cassandra (idempotent)
  sports-prophet settings                        print every setting, its variable and default
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command, rest = (args[0], args[1:]) if args else ("--help", [])
    if command in ("worker", "supervise") and (problem := exposure_problem()):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if command == "worker":
        from sports_prophet.worker import app
        sys.argv = ["sports-prophet", "worker", "--loglevel", "info", *rest]
        app.main()
        return 0
    if command == "supervise":
        from sports_prophet.ops.supervisor import main as supervise
        return supervise(rest)
    if command == "simulate":
        from simulator.stream import main as simulate
        return simulate(rest)
    if command == "replay":
        from simulator.replay.command import main as replay
        return replay(rest)
    if command == "schema":
        from cql.apply import apply_schema
        apply_schema()
        return 0
    if command == "settings":
        from sports_prophet.config import settings_table
        for var, default, doc in settings_table():
            print(f"{var:28} {default:24} {doc}")
        return 0
    print(__doc__.strip())
    return 0 if command in ("--help", "-h", "help") else 2


def exposure_problem() -> str | None:
    """Checked before a worker starts (and before `supervise` would restart one that must not start), so
    a misconfigured worker exits before it binds; not at import, since tests import the app's modules."""
    from sports_prophet.config import settings
    from web.auth import exposure_problem as problem
    return problem(settings.web_host, settings.admin_token)


if __name__ == "__main__":
    sys.exit(main())
