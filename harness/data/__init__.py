"""Data files shipped with the harness (the paper reference table for ``harness report``)."""
