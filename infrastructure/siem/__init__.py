"""SIEM export plumbing: where the audit records come from, where they go, the cursors."""
