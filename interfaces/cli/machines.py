"""Operator commands for machines, grants and the IP allowlist (to be filled in)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `machine …`, `grant`, `revoke-grant` and `ipallowlist …` to the root app."""
