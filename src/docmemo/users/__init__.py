"""Users of every role: creation with its role rules, and reading one record."""
