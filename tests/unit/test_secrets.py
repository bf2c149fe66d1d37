"""Invite tokens and access codes: shape, strength, and what a database dump gives away."""

from __future__ import annotations

import re

from bot.domain import new_id
from bot.secrets import (
    TokenMaker,
    hash_access_code,
    new_access_code,
    new_nonce,
    normalise_access_code,
)

KEY = b"k" * 32


def test_token_shape_fits_a_telegram_deep_link() -> None:
    tokens = TokenMaker(KEY)
    for _ in range(200):
        token = tokens.make(new_id(), new_nonce())
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert len(token) <= 64


def test_token_round_trip_and_the_id_it_names() -> None:
    tokens = TokenMaker(KEY)
    invitation_id, nonce = new_id(), new_nonce()
    token = tokens.make(invitation_id, nonce)
    assert tokens.invitation_id_of(token) == invitation_id
    assert tokens.verify(token, invitation_id=invitation_id, nonce=nonce)


def test_a_new_nonce_voids_the_old_token() -> None:
    tokens = TokenMaker(KEY)
    invitation_id, nonce = new_id(), new_nonce()
    token = tokens.make(invitation_id, nonce)
    assert not tokens.verify(token, invitation_id=invitation_id, nonce=new_nonce())


def test_the_database_alone_yields_no_token() -> None:
    """Knowing the id and nonce (a dump) without the server key gives another token."""
    invitation_id, nonce = new_id(), new_nonce()
    real = TokenMaker(KEY).make(invitation_id, nonce)
    guessed = TokenMaker(b"not-the-key").make(invitation_id, nonce)
    assert real != guessed
    assert not TokenMaker(KEY).verify(guessed, invitation_id=invitation_id, nonce=nonce)


def test_the_mac_has_128_bits() -> None:
    tokens = TokenMaker(KEY)
    invitation_id = new_id()
    macs = {tokens.make(invitation_id, new_nonce())[22:] for _ in range(1000)}
    assert len(macs) == 1000
    # 16 bytes of id + 16 bytes of MAC = 32 bytes = 43 base64url characters.
    assert TokenMaker.invitation_id_of("A" * 43) is not None


def test_malformed_tokens_name_no_invitation() -> None:
    for bad in ["", "short", "A" * 42, "A" * 44, "A" * 42 + "=", "A" * 42 + "!", "ü" * 43]:
        assert TokenMaker.invitation_id_of(bad) is None
    tokens = TokenMaker(KEY)
    assert not tokens.verify("ü" * 43, invitation_id=new_id(), nonce=new_nonce())


def test_access_codes() -> None:
    codes = {new_access_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert re.fullmatch(
            r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code
        )
        assert normalise_access_code(code.lower().replace("-", " ")) == code.replace("-", "")
    # O reads as 0 and I or L as 1, the way people mistype them.
    assert normalise_access_code("ABCD-EFGH-JKMO") == "ABCDEFGHJKM0"
    assert normalise_access_code("abcd efgh jkmi") == "ABCDEFGHJKM1"
    for bad in ["", "ABCD", "ABCD-EFGH-JKMN-P", "ABCD-EFGH-JKM!", "ABCD-EFGH-JKMU"]:
        assert normalise_access_code(bad) is None


def test_access_codes_are_stored_as_keyed_hashes() -> None:
    code = "ABCDEFGHJKMN"
    stored = hash_access_code(code, secret_key=KEY)
    assert code not in stored and len(stored) == 64
    assert stored == hash_access_code(code, secret_key=KEY)
    assert stored != hash_access_code(code, secret_key=b"other")
