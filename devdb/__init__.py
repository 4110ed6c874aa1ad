"""The embedded database for development and tests: FerretDB v1.24 (SQLite backend) in a tiny Go program."""
