"""``pyjinn jobs``: the admin API's job endpoints, from the command line.

Reading needs nothing; retrying and purging send the admin token, read from
``PYJINN_ADMIN_TOKEN`` or ``DATA_DIR/admin.token`` (see ``pyjinn.server.credential``).
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rich.console import Console
from rich.table import Table


class AdminError(Exception):
    """The admin API could not be reached, or refused the call (its message says why)."""


def call(
    admin: str, method: str, path: str, query: dict[str, str | None], token: str | None = None
) -> Any:
    """One admin API call; the JSON document it answers."""
    kept = {name: value for name, value in query.items() if value is not None}
    url = f"http://{admin}{path}" + (f"?{urllib.parse.urlencode(kept)}" if kept else "")
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("error", error.reason)
        except ValueError:
            message = error.reason
        raise AdminError(f"{error.code}: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        raise AdminError(f"cannot reach the admin API at {admin}: {error}") from None


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
