"""Login, sessions, password hashing and access rules."""
