"""The admin credential: one token for every admin call that changes state.

The token comes from ``PYJINN_ADMIN_TOKEN`` when it is set (at least 16 characters), else from
``DATA_DIR/admin.token``, generated once (32 random bytes, URL-safe) with mode 0600. Whoever can
read that file is the operator on this machine; ``pyjinn`` commands read it from there. Read-only
admin endpoints stay open on the loopback listener; calls that change state (job retries,
purges, deploys) need ``Authorization: Bearer <token>``, checked by :func:`is_authorized` alone,
in constant time.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

ENVIRONMENT_VARIABLE = "PYJINN_ADMIN_TOKEN"
FILE_NAME = "admin.token"
MIN_LENGTH = 16


class CredentialError(Exception):
    """The token cannot be read or made; the message says where and why."""


def admin_token(data_dir: Path, environ: dict[str, str] | None = None) -> str:
    """The admin token: from the environment, else ``data_dir/admin.token`` (made if missing)."""
    environment = os.environ if environ is None else environ
    given = environment.get(ENVIRONMENT_VARIABLE)
    if given is not None:
        if len(given) < MIN_LENGTH:
            raise CredentialError(
                f"{ENVIRONMENT_VARIABLE} is {len(given)} characters long; use at least "
                f"{MIN_LENGTH} random characters"
            )
        return given
    path = data_dir / FILE_NAME
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".tmp-token-")
        try:
            with os.fdopen(handle, "w") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
        return _read(path)
    except OSError as error:
        raise CredentialError(f"cannot create the admin token in {path}: {error}") from None


def read_admin_token(data_dir: Path, environ: dict[str, str] | None = None) -> str:
    """The token for a client (``pyjinn jobs retry``): the environment's, else the file's;
    never made here."""
    environment = os.environ if environ is None else environ
    given = environment.get(ENVIRONMENT_VARIABLE)
    if given is not None:
        return given
    path = data_dir / FILE_NAME
    try:
        return _read(path)
    except FileNotFoundError:
        raise CredentialError(
            f"no admin token at {path}; is pyjinn up running with this data_dir? "
            f"(or set {ENVIRONMENT_VARIABLE})"
        ) from None
    except OSError as error:
        raise CredentialError(f"cannot read the admin token {path}: {error}") from None


def is_authorized(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header presents ``token`` as a bearer token."""
    if authorization is None:
        return False
    scheme, _, presented = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def _read(path: Path) -> str:
    with open(path) as file:
        info = os.fstat(file.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialError(
                f"the admin token {path} is readable or writable by other users; chmod 600 it"
            )
        token = file.read().strip()
    if len(token) < MIN_LENGTH:
        raise CredentialError(f"the admin token {path} is too short; delete it to make a new one")
    return token
