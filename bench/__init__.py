"""Benchmarks of Docteur Memo: ``.venv/bin/python bench/run.py`` (see docs/BENCHMARKS.md)."""
