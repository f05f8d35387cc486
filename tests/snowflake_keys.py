"""Key material for the Snowflake tests: made in the test run, never a real key."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization


def pem(key: Any, fmt: serialization.PrivateFormat, password: str | None = None) -> str:
    """A private key as PEM text in ``fmt`` (PKCS8, TraditionalOpenSSL...), encrypted when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()
