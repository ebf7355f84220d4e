"""Secrets: encryption at rest (the Calendly token, webhook signing keys), and the keys that are
generated into instance/ on first run when the environment gives none."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from store.outcomes import RunProblem


class TokenVaultError(Exception):
    """A stored secret cannot be decrypted with the configured key(s)."""

    # How a sync that needed the secret records this failure (mirror/problems.py).
    run_problem = RunProblem.TOKEN_UNREADABLE


def fernet_for(keys: str, what: str = "token encryption") -> MultiFernet:
    """Fernet for comma-separated keys: the first one encrypts, every one decrypts (rotation).

    Raises ValueError when there is no key or one is not a Fernet key.
    """
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise ValueError(f"no {what} key configured")
    return MultiFernet([Fernet(k.encode("ascii")) for k in parts])


class TokenVault:
    """Fernet encryption; several comma-separated keys allow rotation (the first one encrypts)."""

    def __init__(self, keys: str):
        self._fernet = fernet_for(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise TokenVaultError(
                "The stored Calendly token cannot be decrypted: TOKEN_ENCRYPTION_KEY has changed. "
                "Enter the token again in Settings."
            ) from exc


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


def erasure_key(instance_path: str) -> str:
    """The HMAC key of the erased people's tombstones (store/erasures.py), kept apart from the
    other keys in instance/erasure.key."""
    return read_or_create(Path(instance_path) / "erasure.key", lambda: secrets.token_hex(32))
