"""Cross-region medical filing (异地就医备案): file, change, cancel and verify filings."""
