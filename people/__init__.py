"""The insured-person registry, shared by every domain."""
