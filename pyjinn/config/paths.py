"""Request paths as Caddy's path matcher sees them, and the path matcher itself.

Caddy matches a request's path after decoding it (``%2e`` is ``.``, ``%2f`` is ``/``) and
cleaning it: dot segments resolved, repeated slashes merged, a trailing slash kept. The
comparison ignores case. So ``/INTERNAL/x``, ``//internal/x`` and ``/a/%2e%2e/internal/x`` all
meet ``respond /internal/* 403`` before anything behind it. A pattern that itself holds ``//``
is compared with a path whose repeated slashes were kept.

This module is the one implementation of that rule: the config builds :class:`PathMatcher` objects,
and the router asks them. Handlers see the cleaned path; ``handle_path`` removes its prefix from
it (:meth:`RequestPath.strip`), comparing without case as the matcher does.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def clean_path(path: str, *, merge_slashes: bool = True) -> str:
    """``path`` with ``.`` and ``..`` segments resolved and, with ``merge_slashes``, empty
    segments dropped; a trailing slash is kept. As Go's ``path.Clean`` plus Caddy's rules for
    trailing and repeated slashes, so ``/a/./b/../c/`` is ``/a/c/`` and ``/..`` is ``/``."""
    if path.startswith("/") and "/." not in path and ("//" not in path or not merge_slashes):
        return path  # nothing to resolve: the common case, without splitting
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    segments = path.split("/")
    if rooted:
        segments = segments[1:]
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == ".":
            continue
        if segment == "":
            # An empty segment is a repeated slash (kept only without merging) or the end of a
            # path with a trailing slash (restored below).
            if merge_slashes or index == last:
                continue
            parts.append(segment)
        elif segment == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
        else:
            parts.append(segment)
    cleaned = "/".join(parts)
    if rooted:
        cleaned = "/" + cleaned
    elif not cleaned:
        cleaned = "."
    if cleaned != "/" and path.endswith("/") and cleaned != ".":
        cleaned += "/"
    return cleaned


def fold(text: str) -> str:
    """``text`` in lower case, one character for one (as Go's ``strings.ToLower``), so an index
    into the folded text is an index into the original."""
    folded = text.lower()
    if text.isascii() or len(folded) == len(text):
        return folded
    return "".join(char.lower()[0] for char in text)


@dataclass(frozen=True, slots=True)
class RequestPath:
    """A request's path: ``decoded`` as received (percent-decoded, Caddy's ``{path}``),
    ``cleaned`` as handlers see it, and ``folded`` (cleaned, lower case) for matching."""

    decoded: str
    cleaned: str
    folded: str

    @classmethod
    def of(cls, decoded: str) -> RequestPath:
        cleaned = clean_path(decoded)
        return cls(decoded, cleaned, fold(cleaned))

    def strip(self, prefix: str) -> RequestPath:
        """The path below ``prefix`` (matched without case), as ``handle_path`` hands it on;
        always starting with ``/``."""
        rest = self.cleaned
        if self.folded.startswith(fold(prefix)):
            rest = rest[len(prefix) :]
        if not rest.startswith("/"):
            rest = "/" + rest
        return RequestPath(rest, rest, fold(rest))


@dataclass(frozen=True)
class PathMatcher:
    """A Caddy path matcher: ``/exact``, or ``/prefix*`` (any pattern ending in ``*``; so
    ``/api/*`` matches ``/api/`` and below, not ``/api``, and ``/api*`` matches both)."""

    pattern: str
    # The folded pattern without its ``*``, computed once.
    _folded: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded", fold(self.prefix))

    @property
    def is_prefix(self) -> bool:
        return self.pattern.endswith("*")

    @property
    def prefix(self) -> str:
        """The pattern without its trailing ``*`` (the whole pattern for an exact one)."""
        return self.pattern[:-1] if self.is_prefix else self.pattern

    @property
    def strip_prefix(self) -> str:
        """What ``handle_path`` removes: the pattern without a trailing ``/*`` or ``*``."""
        if self.pattern.endswith("/*"):
            return self.pattern[:-2]
        return self.prefix

    @property
    def keeps_repeated_slashes(self) -> bool:
        """A pattern holding ``//`` is compared with a path whose repeated slashes were kept."""
        return "//" in self.pattern

    def matches(self, path: RequestPath) -> bool:
        if self.keeps_repeated_slashes:
            target = fold(clean_path(path.decoded, merge_slashes=False))
        else:
            target = path.folded
        if self.is_prefix:
            return target.startswith(self._folded)
        return target == self._folded

    def index_key(self) -> tuple[bool, str] | None:
        """(is_prefix, folded text) under which a route table may index this matcher: it
        matches exactly the cleaned, folded paths equal to the text (or, for a prefix, starting
        with it). None when only :meth:`matches` can tell (a pattern holding ``//``)."""
        if self.keeps_repeated_slashes:
            return None
        return self.is_prefix, self._folded

    def sort_key(self) -> tuple[int, str, int]:
        """Caddy's order among matchers of one directive: the longer pattern (without its
        ``*``) first, equal lengths in lexical order, and ``/x`` before ``/x*``."""
        trimmed = self.prefix
        return (-len(trimmed), trimmed, 1 if self.is_prefix else 0)
