"""Storage backends behind the capabilities, one package per kind, each behind a Protocol."""
