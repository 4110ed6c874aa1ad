"""HTTP only: handlers, the error table, the message catalogue and the OpenAPI document."""
