"""Secrets as stored: passwords hashed with Argon2id, keys as their SHA-256. No Flask, no
session: the operations that create accounts and keys and ``auth``, which checks them,
both build on this module."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_key(kind: str) -> str:
    """A fresh secret key, e.g. ``kq_dev_…``; shown once, stored as its hash."""
    return f"kq_{kind}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
