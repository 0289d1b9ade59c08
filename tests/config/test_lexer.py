from __future__ import annotations

import pytest

from pyjinn.config.lexer import Line, tokenize
from pyjinn.errors import ConfigError, Location


def words(lines: list[Line]) -> list[list[str]]:
    return [[token.text for token in line.tokens] for line in lines]


def lex(text: str, environ: dict[str, str] | None = None) -> list[Line]:
    errors: list[ConfigError] = []
    lines = tokenize(text, "Caddyfile", environ or {}, errors)
    assert errors == []
    return lines


def test_lines_end_at_newlines_and_blank_lines_vanish() -> None:
    assert words(lex(":8080 {\n\n  respond  hi\t200\n}\n")) == [
        [":8080", "{"],
        ["respond", "hi", "200"],
        ["}"],
    ]


def test_tokens_carry_file_and_line() -> None:
    lines = lex("a\n\n# comment\nb c\n")
    assert [token.location for line in lines for token in line.tokens] == [
        Location("Caddyfile", 1),
        Location("Caddyfile", 4),
        Location("Caddyfile", 4),
    ]


def test_hash_starts_a_comment_only_at_the_start_of_a_token() -> None:
    assert words(lex("respond a#b # the rest is gone {\n")) == [["respond", "a#b"]]


def test_double_quotes_keep_spaces_and_unescape_only_quotes() -> None:
    (line,) = lex(r'respond "say \"hi\" # not a comment \n" x')
    assert [token.text for token in line.tokens] == [
        "respond",
        'say "hi" # not a comment \\n',
        "x",
    ]
    assert [token.quoted for token in line.tokens] == [False, True, False]


def test_backticks_are_raw() -> None:
    (line,) = lex(r'respond `{"a": "b\"c"}`')
    assert line.tokens[1].text == r'{"a": "b\"c"}'


def test_a_quote_inside_a_word_is_literal() -> None:
    assert words(lex('say"hi" there')) == [['say"hi"', "there"]]


def test_a_quoted_newline_continues_the_line_and_later_lines_keep_their_numbers() -> None:
    lines = lex('respond "one\ntwo" 200\nnext\n')
    assert words(lines) == [["respond", "one\ntwo", "200"], ["next"]]
    assert [token.location.line for token in lines[0].tokens] == [1, 1, 2]
    assert lines[1].location.line == 3


def test_braces_are_structural_only_when_alone_and_unquoted() -> None:
    (line,) = lex('a { "{" {x} }')
    assert [(token.text, token.is_open_brace, token.is_close_brace) for token in line.tokens] == [
        ("a", False, False),
        ("{", True, False),
        ("{", False, False),
        ("{x}", False, False),
        ("}", False, True),
    ]


def test_placeholders_are_substituted_inside_any_token() -> None:
    environ = {"PORT": "9000", "NAME": "two words"}
    (line,) = lex(':{$PORT} "hi {env.NAME}!" {$NAME} `{$PORT}`', environ)
    assert [token.text for token in line.tokens] == [":9000", "hi two words!", "two words", "9000"]


def test_a_default_is_used_only_when_the_variable_is_unset() -> None:
    (line,) = lex("{$A:fallback} {$B:fallback} {$C:}", {"B": ""})
    assert [token.text for token in line.tokens] == ["fallback", "", ""]


def test_other_braces_stay_literal() -> None:
    text = '{"json": {"nested": 1}} {http.request.uri} {$} {env.} {args[0]}'
    (line,) = lex(text)
    assert " ".join(token.text for token in line.tokens) == text


def test_a_missing_variable_is_reported_at_its_line_and_lexing_goes_on() -> None:
    errors: list[ConfigError] = []
    lines = tokenize("a\nb {env.NOPE} {$ALSO_NOPE}x\nc\n", "site.caddy", {}, errors)
    assert words(lines) == [["a"], ["b", "", "x"], ["c"]]
    assert [str(error) for error in errors] == [
        "site.caddy:2: environment variable NOPE is not set (referenced as {env.NOPE})",
        "site.caddy:2: environment variable ALSO_NOPE is not set (referenced as {$ALSO_NOPE})",
    ]


@pytest.mark.parametrize("quote", ['"', "`"])
def test_an_unterminated_quote_is_an_error_where_it_opened(quote: str) -> None:
    with pytest.raises(ConfigError) as raised:
        tokenize(f"a\nrespond {quote}never closed\n}}\n", "site.caddy", {}, [])
    assert str(raised.value) == (
        f"site.caddy:2: unterminated quoted string: the {quote} opened here is never closed"
    )


# Caddy's escapes, continuations and heredocs


def test_in_double_quotes_a_backslash_is_kept_unless_it_escapes_a_quote() -> None:
    (line,) = lex('respond "a\\\nb" "tab\\t" "q\\"q"\n')
    assert [token.text for token in line.tokens] == ["respond", "a\\\nb", "tab\\t", 'q"q']


def test_a_doubled_backslash_before_a_quote_ends_the_string_as_in_caddy() -> None:
    lines = lex('respond "x\\\\" 200\nnext\n')
    assert words(lines) == [["respond", "x\\\\", "200"], ["next"]]


def test_a_backslash_at_the_end_of_a_line_continues_it() -> None:
    lines = lex('respond /c \\\n\t"continued" \\\n\t201\nnext\n')
    assert words(lines) == [["respond", "/c", "continued", "201"], ["next"]]
    assert [token.location.line for token in lines[0].tokens] == [1, 1, 2, 3]


def test_outside_quotes_a_backslash_before_another_character_is_kept() -> None:
    assert words(lex("a\\b c\\{\n")) == [["a\\b", "c\\{"]]


def test_a_heredoc_is_one_token_without_the_closing_lines_indentation() -> None:
    text = "a {\n\trespond <<HTML\n\t\t<p>hi</p>\n\t\t  indented\n\n\t\tHTML 201\n}\nnext\n"
    lines = lex(text)
    assert words(lines) == [
        ["a", "{"],
        ["respond", "<p>hi</p>\n  indented\n", "201"],
        ["}"],
        ["next"],
    ]
    assert lines[1].tokens[1].quoted
    assert [line.location.line for line in lines] == [1, 2, 7, 8]


def test_a_heredoc_opener_can_be_escaped_or_followed_by_a_space() -> None:
    assert words(lex("respond \\<<EOF x\nrespond << y\n")) == [
        ["respond", "<<EOF", "x"],
        ["respond", "<<", "y"],
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("respond <<\nx\n", "site.caddy:1: a heredoc needs a marker after <<"),
        ("respond <<<EOF\nx\nEOF\n", "site.caddy:1: too many '<' for a heredoc"),
        ("respond <<E.F\nx\nE.F\n", "site.caddy:1: invalid heredoc marker 'E.F'"),
        ("a\nrespond <<EOF\nnever closed\n", "site.caddy:2: unterminated heredoc: <<EOF"),
        ("respond <<EOF\nx\n  y\n  EOF\n", "site.caddy:1: heredoc <<EOF: line 1 of its text"),
    ],
)
def test_a_malformed_heredoc_is_an_error_that_names_the_heredoc(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        tokenize(text, "site.caddy", {}, [])
    assert str(raised.value).startswith(message)


def test_a_byte_order_mark_is_ignored() -> None:
    assert words(lex("\ufeffa b\n")) == [["a", "b"]]
