"""Crash records and replay: a failed invocation, taken offline and run again exactly.

    capture   a finished invocation -> its record (secrets out, coredump built), off the
              request path
    recorder  the writer thread every record goes through
    record    the record file: a zip of record.json and binary members
    store     the crash directory: records, modules by digest, retention
    secrets   what never reaches a record, and putting it back for a replay
    coredump  the standard wasm coredump of a failure (wasm: the binary encodings it needs)
    mounts    the files of a function's mounts, kept and laid out again
    world     a replayed guest's host calls, clocks, random values and polls, from the record
    replay    running a record (or a rebuilt module) and the verdict
    gojinn    Gojinn's crash dumps, as degraded records
    sourcemap source lines from a module's DWARF, for the command-line tools
    commands  what ``pyjinn replay`` and ``pyjinn crashes`` print

The engine keeps what a replay needs while the guest runs (``engine.context``, ``engine.clocks``,
``engine.randomness``, ``engine.sleep``, the dispatcher's host call record); the invocation
pipeline (``pyjinn.invocation``) hands each finished invocation that gets a record to the
recorder. See docs/debugging.md.
"""
