"""The one path matcher: cleaned, case-folded paths compared as Caddy compares them."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyjinn.config.paths import PathMatcher, RequestPath, clean_path, fold


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("//a///b//", "/a/b/"),
        ("/a/./b/../c", "/a/c"),
        ("/a/b/../", "/a/"),
        ("/a/..", "/"),
        ("/..", "/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/strip/../../etc/passwd", "/etc/passwd"),
        ("/a/.../b", "/a/.../b"),
        ("/.hidden/./x", "/.hidden/x"),
    ],
)
def test_clean_path_resolves_dot_segments_merges_slashes_and_keeps_a_trailing_slash(
    path: str, cleaned: str
) -> None:
    assert clean_path(path) == cleaned


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("//a//b", "//a//b"), ("/a//../b", "/a/b"), ("/a//", "/a//"), ("/a/./b//", "/a/b//")],
)
def test_clean_path_can_keep_repeated_slashes(path: str, cleaned: str) -> None:
    assert clean_path(path, merge_slashes=False) == cleaned


@given(st.lists(st.sampled_from(["a", "B", ".", "..", "", "%2e", "x.y"]), max_size=8))
def test_clean_path_agrees_with_posix_normpath_on_rooted_paths(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    expected = posixpath.normpath(path)
    if expected.startswith("//"):
        expected = expected[1:]  # POSIX keeps two leading slashes; Go's path.Clean does not
    if path.endswith("/") and expected != "/":
        expected += "/"
    assert clean_path(path) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/api/users", "/api/users", True),
        ("/api/users", "/api/users/", False),
        ("/api/users", "/api", False),
        ("/api/*", "/api/users", True),
        ("/api/*", "/api/", True),
        ("/api/*", "/api", False),  # as in Caddy: /api/* does not match /api, /api* does
        ("/api/*", "/apiary", False),
        ("/api*", "/apiary", True),
        ("/api*", "/api", True),
        ("/*", "/anything/at/all", True),
        # Case, dot segments, repeated slashes: the path is cleaned and folded first.
        ("/internal/*", "/INTERNAL/x", True),
        ("/Internal/*", "/internal/x", True),
        ("/internal/*", "//internal/x", True),
        ("/internal/*", "/a/../internal/x", True),
        ("/internal/*", "/internal/../public/x", False),
        ("/admin/*", "/admin/../public/x", False),
        ("/public/*", "/admin/../public/x", True),
        ("/a/b", "/a/./b", True),
        ("/a/b/", "/a/b//", True),
        # A pattern holding // keeps the path's repeated slashes.
        ("//double/*", "//double/x", True),
        ("//double/*", "/double/x", False),
    ],
)
def test_path_matcher_matches_the_cleaned_path_without_case(
    pattern: str, path: str, expected: bool
) -> None:
    assert PathMatcher(pattern).matches(RequestPath.of(path)) is expected


def test_caddy_sort_order_is_longer_pattern_first_then_lexical_then_exact_before_prefix() -> None:
    patterns = ["/a*", "/api/*", "/", "/api/users", "/api/users/*", "/api", "/api*", "/b", "/a"]
    ordered = sorted(patterns, key=lambda p: PathMatcher(p).sort_key())
    assert ordered == [
        "/api/users/*",
        "/api/users",
        "/api/*",
        "/api",
        "/api*",
        "/a",
        "/a*",
        "/b",
        "/",
    ]


@pytest.mark.parametrize(
    ("pattern", "path", "seen"),
    [
        ("/api/*", "/api/users", "/users"),
        ("/api/*", "/API/Users", "/Users"),  # matched without case, the rest kept as sent
        ("/api/*", "/api/", "/"),
        ("/api/*", "/api//double", "/double"),
        ("/api*", "/api", "/"),
        ("/api*", "/apiary", "/ary"),
        ("/api", "/api", "/"),
        ("/strip/*", "/strip/a/../b", "/b"),
    ],
)
def test_handle_path_strips_its_prefix_from_the_cleaned_path(
    pattern: str, path: str, seen: str
) -> None:
    request = RequestPath.of(path)
    assert PathMatcher(pattern).matches(request)
    stripped = request.strip(PathMatcher(pattern).strip_prefix)
    assert (stripped.cleaned, stripped.decoded) == (seen, seen)


def test_folding_keeps_one_character_for_one() -> None:
    # Python lower-cases U+0130 to two characters; Go (and Caddy) to one.
    assert fold("/İstanbul") == "/istanbul"
    assert len(fold("/İ/x")) == len("/İ/x")
    assert PathMatcher("/istanbul/*").matches(RequestPath.of("/İSTANBUL/x"))
