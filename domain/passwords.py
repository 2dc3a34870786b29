"""The operator password policy: at least 12 characters, a digit and a special character."""

from __future__ import annotations

from domain.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1024


def check_password_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"Password must be at most {MAX_LENGTH} characters")
    if not any(c.isdigit() for c in password):
        raise InvalidInput("Password must contain at least one digit")
    if all(c.isalnum() or c.isspace() for c in password):
        raise InvalidInput("Password must contain at least one special character")
