"""The 12333 agent console: find the caller, see their records masked in one view, reveal
an identifier for a stated reason, act, and read the audit trail."""
