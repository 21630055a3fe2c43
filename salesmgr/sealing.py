"""Secrets the app must read back (a webhook's signing secret), sealed at rest.

A webhook secret cannot be hashed like a password: every delivery is signed with
it, so the app needs it in the clear at send time. What is stored instead is a
Fernet token (AES-128-CBC with an HMAC-SHA256 tag), so a copy of the database,
a backup or a read-only SQL account does not give away the secrets that let
anyone forge a delivery.

The keys are derived from ``SECRET_KEY`` with HKDF (one purpose string, so a
sealing key is never the key Django signs sessions with). ``SECRET_KEY_FALLBACKS``
still open what they sealed: rotate ``SECRET_KEY`` by moving the old one into the
fallbacks, and run ``manage.py reseal_secrets`` to seal every stored secret with
the new key before the old one is dropped.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PURPOSE = b"salesmgr.sealing.v1"


class SealedSecretUnreadable(Exception):
    """A sealed value no configured key opens: ``SECRET_KEY`` changed without a fallback."""


def _fernet_key(secret_key: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(derived)


def _sealer() -> MultiFernet:
    """The current key first (it seals), then each fallback (they only open)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def seal(text: str) -> str:
    return _sealer().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _sealer().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SealedSecretUnreadable(
            "A stored secret cannot be opened with this SECRET_KEY or its SECRET_KEY_FALLBACKS: "
            "put the key it was sealed with back in SECRET_KEY_FALLBACKS, or rotate the secret."
        ) from error


def reseal(token: str) -> str:
    """The same secret sealed with the current key (opened with any configured key)."""
    try:
        return _sealer().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SealedSecretUnreadable(
            "A stored secret cannot be opened with this SECRET_KEY or its SECRET_KEY_FALLBACKS."
        ) from error
