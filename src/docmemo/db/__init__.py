"""The database layer: models, engines, migrations and the embedded server."""
