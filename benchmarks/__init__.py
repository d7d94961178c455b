"""Performance benchmarks for Pocketstack (not part of the installed package)."""
