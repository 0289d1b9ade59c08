"""What SQL a guest may use in the file engines (SQLite, libSQL): functions and virtual table
modules, each on an allow-list. Whatever else the engine offers is refused.

Left out on purpose: functions that hand out or take memory addresses (``fts3_tokenizer``,
``fts5``), load code (``load_extension``), reach files or run SQL of their own (libSQL's
``readfile``, ``writefile``, ``fsdir``, ``sha3_query``, ``sqlite_dbpage``), change or read the
engine's internals (``sqlite_log``, ``sqlite3mc_*``, ``carray``, ``sqlite_stmt``, ``dbstat``,
testing aids such as ``rtreenode``), and the string and statistics functions libSQL bundles
from outside SQLite (``reverse``, ``median``, ...).
"""

from __future__ import annotations

FUNCTIONS = frozenset(
    {
        # core scalar functions
        "abs", "changes", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex",
        "if", "ifnull", "iif", "instr", "last_insert_rowid", "length", "like", "likelihood",
        "likely", "lower", "ltrim", "max", "min", "nullif", "octet_length", "printf", "quote",
        "random", "randomblob", "replace", "round", "rtrim", "sign", "soundex", "substr",
        "substring", "subtype", "total_changes", "trim", "typeof", "unhex", "unicode", "unistr",
        "unistr_quote", "unlikely", "upper", "zeroblob",
        "sqlite_version", "sqlite_source_id", "sqlite_compileoption_get",
        "sqlite_compileoption_used",  # what PRAGMA compile_options shows anyway
        # date and time
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
        "current_date", "current_time", "current_timestamp",
        # aggregate and window functions
        "avg", "count", "group_concat", "string_agg", "sum", "total",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
        "first_value", "last_value", "nth_value",
        # math
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos",
        "cosh", "degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow",
        "power", "radians", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
        # JSON
        "->", "->>", "json", "json_array", "json_array_length", "json_error_position",
        "json_extract", "json_group_array", "json_group_object", "json_insert", "json_object",
        "json_patch", "json_pretty", "json_quote", "json_remove", "json_replace", "json_set",
        "json_type", "json_valid", "jsonb", "jsonb_array", "jsonb_extract", "jsonb_group_array",
        "jsonb_group_object", "jsonb_insert", "jsonb_object", "jsonb_patch", "jsonb_remove",
        "jsonb_replace", "jsonb_set",
        # full-text search (FTS3/4 and FTS5 auxiliary functions), R*Tree and Geopoly
        "match", "matchinfo", "offsets", "snippet", "optimize", "bm25", "highlight",
        "rtreecheck", "geopoly_area", "geopoly_bbox", "geopoly_blob", "geopoly_ccw",
        "geopoly_contains_point", "geopoly_group_bbox", "geopoly_json", "geopoly_overlap",
        "geopoly_regular", "geopoly_svg", "geopoly_within", "geopoly_xform",
        # libSQL: vectors, and the few extensions it builds in that touch nothing outside
        "vector", "vector8", "vector16", "vector1bit", "vector32", "vector64", "vectorb16",
        "vector_distance_cos", "vector_distance_l2", "vector_extract", "libsql_vector_idx",
        "last_rows_affected", "uuid", "uuid_str", "uuid_blob", "sha3", "regexp", "regexpi",
        # SQLite's own, for the statements ALTER TABLE runs inside the engine: SQL cannot
        # call them (they are internal functions), but the authorizer is asked about them.
        "sqlite_rename_column", "sqlite_rename_table", "sqlite_rename_test",
        "sqlite_rename_quotefix", "sqlite_drop_column",
    }
)  # fmt: skip

# Virtual table modules: those a guest may create tables with, and the table-valued functions.
MODULES = frozenset(
    {
        "fts3", "fts4", "fts4aux", "fts3tokenize", "fts5", "fts5vocab", "rtree", "rtree_i32",
        "geopoly", "json_each", "json_tree", "jsonb_each", "jsonb_tree", "generate_series",
        "vector_top_k",
    }
)  # fmt: skip


def function_refusal(name: str) -> str:
    """The message for a function that is not on the allow-list."""
    return (
        f"SQL function {name}() is not available (available: SQLite's ordinary scalar, "
        "aggregate, window, date and time, math and JSON functions, and those of full-text "
        "search, R*Tree and vectors)"
    )


def module_refusal(name: str) -> str:
    """The message for a virtual table module that is not on the allow-list."""
    return f"virtual table module {name} is not available (available: {', '.join(sorted(MODULES))})"
