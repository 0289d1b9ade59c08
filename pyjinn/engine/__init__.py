"""The WebAssembly engine: one wasmtime Engine, compiled modules, and the one door into wasm."""
