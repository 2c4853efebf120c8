"""Encryption of secret values at rest.

The key is derived from SECRET_KEY with HKDF, so the database alone never
reveals a value. Changing SECRET_KEY makes stored secrets unreadable: set them
again after a rotation.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored ciphertext cannot be decrypted with the current SECRET_KEY."""


@functools.cache
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"gradient-secrets", info=b"secret values"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_value(value: str) -> bytes:
    return _fernet(settings.SECRET_KEY).encrypt(value.encode())


def decrypt_value(ciphertext: bytes) -> str:
    try:
        return _fernet(settings.SECRET_KEY).decrypt(bytes(ciphertext)).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted: SECRET_KEY changed since it was set; set it again"
        ) from None
