"""The audit trail: who read or changed whose record, when, from where."""
