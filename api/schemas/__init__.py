"""The HTTP contract: pydantic models of every request and answer, one module per domain."""
