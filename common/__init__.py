"""Shared building blocks every domain uses: clock, guard, rate limiter, idempotency,
versioning, masking and logging."""
