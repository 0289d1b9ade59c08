"""Which grant each host call needs, checked when a module loads and again on every call.

The ABI table (``pyjinn.abi``) names the grant of every host function, as a line of a
``permissions`` block writes it (``kv_write``, ``db read``...). Two locks use it:

- :func:`refuse_imports`, when a module loads: a module importing a function its function is
  not granted never runs, and the message names each import, the grant it needs and the line
  that grants it (``pyjinn validate`` reports it at the function's FILE:LINE);
- :func:`denial`, on every call through the dispatcher, before the capability checks the key's
  namespace: the second lock, for anything that reaches a host function without the first.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyjinn import abi
from pyjinn.config.model import Permissions

# What a grant's line names, where it is not key namespaces.
_WHAT_A_GRANT_NAMES = {"jobs_enqueue": " FUNCTION", "ai": "", "http": "", "websocket": ""}


def denial(permissions: Permissions, call: str) -> str | None:
    """Why ``permissions`` may not make host call ``call`` at all, or None if they may."""
    grant = abi.GRANTS[call]
    if permissions.holds(grant):
        return None
    if grant == "db write" and permissions.db == "read":
        return f"the function may only read (permissions {{ db read }}); {call} needs db write"
    return f"no {grant} permission"


def refuse_imports(
    function: str, permissions: Permissions, imports: Iterable[tuple[str, str]]
) -> str | None:
    """Why function ``function`` may not load a module with ``imports`` (module, name pairs),
    or None: every host function imported that needs a grant it lacks, with the fix."""
    needing: dict[str, list[str]] = {}
    for module, name in imports:
        host_function = abi.BY_NAME.get((module, name))
        if host_function is not None and not permissions.holds(host_function.grant):
            needing.setdefault(host_function.grant, []).append(host_function.qualified_name)
    if not needing:
        return None
    return "; ".join(
        _refusal(function, grant, names, permissions) for grant, names in needing.items()
    )


def _refusal(function: str, grant: str, names: list[str], permissions: Permissions) -> str:
    quoted = [f"'{name}'" for name in names]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    verb = "needs" if len(names) == 1 else "need"
    needs = f"imports {listed}, which {verb} the {grant} grant"
    if grant == "db write" and permissions.db == "read":
        return (
            f"{needs}, but function '{function}' has only db read: change that line of its "
            "permissions block to `db write`"
        )
    line = (
        grant
        if grant.startswith("db ")
        else f"{grant}{_WHAT_A_GRANT_NAMES.get(grant, ' NAMESPACE')}"
    )
    has = "no db grant" if grant.startswith("db ") else f"no {grant}"
    return (
        f"{needs}, but function '{function}' has {has}: add the line `{line}` to its "
        "permissions block"
    )
