"""``pyjinn jobs``: the admin API's job endpoints, from the command line.

Reading needs nothing; retrying and purging send the admin token, read from
``PYJINN_ADMIN_TOKEN`` or ``DATA_DIR/admin.token`` (see ``pyjinn.server.credential``).
"""

from __future__ import annotations

import datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def print_jobs(jobs: list[dict[str, Any]], console: Console | None = None) -> None:
    """A table of job records, newest first (``pyjinn jobs show ID`` has the rest)."""
    table = Table("job", "function", "tenant", "status", "attempts", "created")
    for job in jobs:
        table.add_row(
            job["job_id"],
            job["function"],
            job["tenant"],
            job["status"],
            str(job.get("attempts", 0)),
            _time(job["created"]),
        )
    (console or Console(width=120)).print(table)


def _time(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
