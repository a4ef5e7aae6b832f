"""Signing keys: one active key signs; during a rotation the previous key is still published
and its tokens still pass; a key outside the set is refused; production needs a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from jwcrypto import jwk, jwt

from llmaas.bearer import InvalidToken, access_token_decode, access_token_encode
from llmaas.signing_keys import SigningKeys, load_signing_keys


def _pem() -> str:
    return jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None).decode()


def _token(keys: SigningKeys) -> str:
    token, _ = access_token_encode(keys=keys, user_id="u1", client_id="c", scopes=["keys:read"], lifetime=60)
    return token


def test_it_accepts_tokens_of_the_previous_key_during_a_rotation(monkeypatch, tmp_path: Path):
    old, new = _pem(), _pem()
    before = SigningKeys(active_pem=old, previous_pems=())
    token = _token(before)
    (tmp_path / "previous.pem").write_text(old)
    monkeypatch.setenv("LLMAAS_OIDC_PRIVATE_KEY", new)
    monkeypatch.setenv("LLMAAS_OIDC_PREVIOUS_KEYS_FILE", str(tmp_path / "previous.pem"))
    during = load_signing_keys(tmp_path)
    assert during.active_kid != before.active_kid
    assert set(during.by_kid) == {before.active_kid, during.active_kid}  # both published
    assert access_token_decode(token, keys=during).user_id == "u1"
    assert access_token_decode(_token(during), keys=during).scopes == {"keys:read"}
    after = SigningKeys(active_pem=new, previous_pems=())
    with pytest.raises(InvalidToken, match="unknown signing key"):
        access_token_decode(token, keys=after)


def test_it_refuses_a_token_signed_by_a_foreign_key_with_a_known_kid():
    ours, theirs = SigningKeys(active_pem=_pem(), previous_pems=()), SigningKeys(active_pem=_pem(), previous_pems=())
    genuine = jwt.JWT(jwt=_token(theirs), key=theirs.active)
    forged = jwt.JWT(header={**genuine.token.jose_header, "kid": ours.active_kid}, claims=genuine.claims)
    forged.make_signed_token(theirs.active)  # claims to be signed by our key
    with pytest.raises(InvalidToken, match="bad signature"):
        access_token_decode(forged.serialize(), keys=ours)


def test_the_jwks_publishes_the_active_and_previous_keys(client, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [_pem()]}
    keys = client.get("/o/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 2 and all(k["alg"] == "RS256" and k["use"] == "sig" and "d" not in k for k in keys)


def test_production_refuses_to_start_without_a_key(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("LLMAAS_ENV", "production")
    monkeypatch.delenv("LLMAAS_OIDC_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("LLMAAS_OIDC_PRIVATE_KEY_FILE", raising=False)
    with pytest.raises(ImproperlyConfigured, match="LLMAAS_OIDC_PRIVATE_KEY"):
        load_signing_keys(tmp_path)
    monkeypatch.setenv("LLMAAS_OIDC_PRIVATE_KEY", "not a key")
    with pytest.raises(ImproperlyConfigured, match="exactly one"):
        load_signing_keys(tmp_path)


def test_dev_generates_one_key_per_state_dir_and_reuses_it(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("LLMAAS_OIDC_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("LLMAAS_OIDC_PRIVATE_KEY_FILE", raising=False)
    first, second = load_signing_keys(tmp_path), load_signing_keys(tmp_path)
    assert first.active_kid == second.active_kid
    assert (tmp_path / "oidc_private_key.pem").stat().st_mode & 0o777 == 0o600
