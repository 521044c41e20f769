"""Aggregates over the registry: patient counts by MMSE and age, registry totals."""
