"""SIEM export formats: one audit record in, one line of a SIEM's own format out."""
