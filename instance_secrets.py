"""Secrets that are generated into instance/ on first run when the environment gives none."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def read_or_create(path: Path, make) -> str:
    """Return the secret stored at `path`, creating it (mode 0600) with `make()` if absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        value = make()
        fh.write(value)
    return value


def secret_key(instance_path: str) -> str:
    """The Flask session key kept in instance/secret_key."""
    return read_or_create(Path(instance_path) / "secret_key", lambda: secrets.token_hex(32))


def token_encryption_key(instance_path: str) -> str:
    """The Fernet key for the Calendly token, kept apart from SECRET_KEY in instance/fernet.key."""
    return read_or_create(
        Path(instance_path) / "fernet.key", lambda: Fernet.generate_key().decode("ascii")
    )
