"""Encryption of secrets at rest (the Calendly token, webhook signing keys)."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenVaultError(Exception):
    """A stored secret cannot be decrypted with the configured key(s)."""


class TokenVault:
    """Fernet encryption; several comma-separated keys allow rotation (the first one encrypts)."""

    def __init__(self, keys: str):
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("no token encryption key configured")
        self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts])

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
