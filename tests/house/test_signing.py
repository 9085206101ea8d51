"""The one signing module: per-purpose keys, and outside input that never raises."""

from __future__ import annotations

import pytest

from server.signing import MEDIA_URL, Signer, hkdf_sha256, parse_expires

NOW = 1_800_000_000


@pytest.fixture
def signer() -> Signer:
    return Signer("root-secret-" + "y" * 40)


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = hkdf_sha256(ikm, info, 42, salt)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_each_purpose_has_its_own_key(signer: Signer) -> None:
    media = signer.for_purpose(MEDIA_URL)
    other = signer.for_purpose("join-code")
    assert signer.key(MEDIA_URL) != signer.key("join-code")
    assert signer.key(MEDIA_URL) != b"root-secret-" + b"y" * 40
    signature = media.sign("abc/thumb")
    assert media.verify("abc/thumb", signature)
    assert not other.verify("abc/thumb", signature)
    assert not Signer("another-root").for_purpose(MEDIA_URL).verify("abc/thumb", signature)


def test_expiring_signatures(signer: Signer) -> None:
    urls = signer.for_purpose(MEDIA_URL)
    sig = urls.sign_expiring("m1/large", NOW + 60)
    assert urls.verify_expiring("m1/large", str(NOW + 60), sig, NOW)
    assert urls.verify_expiring("m1/large", str(NOW + 60), sig, NOW + 60)
    assert not urls.verify_expiring("m1/large", str(NOW + 60), sig, NOW + 61)  # expired
    assert not urls.verify_expiring("m1/large", str(NOW + 61), sig, NOW)  # exp changed
    assert not urls.verify_expiring("m1/thumb", str(NOW + 60), sig, NOW)  # other variant


@pytest.mark.parametrize(
    "expires", ["²", "١٢٣", "", "-5", "1e9", " 123", "9" * 13, None, 123, "12\n"]
)
def test_malformed_expiry_is_just_invalid(signer: Signer, expires: object) -> None:
    urls = signer.for_purpose(MEDIA_URL)
    assert not urls.verify_expiring("m1/large", expires, "x" * 24, NOW)


@pytest.mark.parametrize("sig", ["签名", "é" * 24, "", None, 42, b"bytes", "x" * 10_000])
def test_malformed_signature_is_just_invalid(signer: Signer, sig: object) -> None:
    urls = signer.for_purpose(MEDIA_URL)
    assert not urls.verify_expiring("m1/large", str(NOW + 60), sig, NOW)


def test_parse_expires_accepts_only_ascii_digits() -> None:
    assert parse_expires("1800000000") == 1_800_000_000
    assert parse_expires("²") is None
    assert parse_expires("9" * 13) is None


def test_tokens_round_trip_and_refuse_tampering(signer: Signer) -> None:
    csrf = signer.for_purpose("csrf")
    token = csrf.dumps({"session": "s1"}, NOW + 60)
    assert csrf.loads(token, NOW) == {"session": "s1"}
    assert csrf.loads(token, NOW + 61) is None  # expired
    assert signer.for_purpose("join-code").loads(token, NOW) is None  # another purpose
    body, _, sig = token.rpartition(".")
    assert csrf.loads(body + "A." + sig, NOW) is None
    for junk in ("", ".", "a.b", "签名.签名", None, 7, "x" * 5000, token + "x"):
        assert csrf.loads(junk, NOW) is None
