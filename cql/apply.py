"""Apply `cql/*.cql` to the configured Cassandra, idempotently (every statement is IF NOT EXISTS)."""

from __future__ import annotations

import re
from pathlib import Path

from sports_prophet.config import settings

CQL_DIR = Path(__file__).resolve().parent
SCHEMA_FILES = ("schema.cql",)


def statements(text: str) -> list[str]:
    """Split a CQL script into statements, dropping `--` comments."""
    without_comments = re.sub(r"--[^\n]*", "", text)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def render(text: str) -> str:
    """Substitute the configured keyspace and replication factor for the file's defaults."""
    text = text.replace("'replication_factor': 1", f"'replication_factor': {settings.replication_factor}")
    return re.sub(r"\bsports_prophet\.", f"{settings.keyspace}.", text).replace(
        "KEYSPACE IF NOT EXISTS sports_prophet", f"KEYSPACE IF NOT EXISTS {settings.keyspace}")


def apply_schema() -> int:
    from cql.session import session

    count = 0
    for name in SCHEMA_FILES:
        for statement in statements(render((CQL_DIR / name).read_text())):
            session().execute(statement, timeout=60)
            count += 1
    print(f"==> Cassandra schema applied: {count} statements from cql/{', cql/'.join(SCHEMA_FILES)} "
          f"(keyspace {settings.keyspace})", flush=True)
    return count
