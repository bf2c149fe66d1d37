"""Invitation link tokens and household access codes.

Tokens: ``base64url(invitation id bytes || HMAC-SHA256(key, id || nonce)[:16])``, 43
characters of ``[A-Za-z0-9_-]``, 128 bits of MAC. The database stores only the nonce, so a dump
of it yields no working link, yet the server can show a link again. Changing the nonce voids
every earlier link at once.

Access codes: 12 characters of Crockford's base32 (no I, L, O, U), shown as ``XXXX-XXXX-XXXX``
(60 bits). The database stores only a keyed hash of the normalised code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

TOKEN_LENGTH = 43
_MAC_BYTES = 16
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
# Letters people confuse, read the way Crockford's base32 reads them.
_CODE_CONFUSABLES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_nonce() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class TokenMaker:
    """Makes and checks invitation tokens under the server's secret key."""

    secret_key: bytes

    def _mac(self, invitation_id: str, nonce: str) -> bytes:
        message = f"invitation:{invitation_id}:{nonce}".encode()
        return hmac.new(self.secret_key, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def make(self, invitation_id: str, nonce: str) -> str:
        raw = uuid.UUID(hex=invitation_id).bytes + self._mac(invitation_id, nonce)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @staticmethod
    def invitation_id_of(token: str) -> str | None:
        """The invitation id a well-formed token names (not yet verified), else ``None``."""
        if not _TOKEN_RE.match(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=")
        except (binascii.Error, ValueError):
            return None
        return uuid.UUID(bytes=raw[:16]).hex

    def verify(self, token: str, *, invitation_id: str, nonce: str) -> bool:
        """Constant-time check that ``token`` is the current token of this invitation."""
        expected = self.make(invitation_id, nonce)
        return hmac.compare_digest(expected.encode("ascii"), token.encode("ascii", "replace"))


def new_access_code() -> str:
    """A fresh access code for a household head, formatted for people: ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_access_code(text: str) -> str | None:
    """The canonical form of a typed code (case, spaces and dashes ignored), or ``None``."""
    cleaned = re.sub(r"[\s\-]", "", text).upper().translate(_CODE_CONFUSABLES)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def hash_access_code(code: str, *, secret_key: bytes) -> str:
    """The keyed hash stored for a code; ``code`` must already be normalised."""
    return hmac.new(secret_key, f"access-code:{code}".encode(), hashlib.sha256).hexdigest()
