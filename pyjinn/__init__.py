"""pyjinn: WebAssembly functions in fresh, locked-down sandboxes inside one server process."""

__version__ = "0.1.0"
