"""The safe-mode envelope against WeChat's own sample (WXBizMsgCrypt's test vector), so
our fake and our endpoint cannot agree on a wrong scheme."""

from __future__ import annotations

import pytest

from server.wechat_push import PushCipher, PushRejected, push_signature

SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APP_ID = "wxb11529c136998cb6"
SAMPLE_ENCRYPTED = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)


def test_wechats_sample_decrypts_and_encrypts() -> None:
    cipher = PushCipher(SAMPLE_KEY, SAMPLE_APP_ID)
    assert cipher.decrypt(SAMPLE_ENCRYPTED).decode() == "我是中文abcd123"
    assert cipher.encrypt("我是中文abcd123".encode(), b"aaaabbbbccccdddd") == SAMPLE_ENCRYPTED


def test_another_apps_message_or_garbage_is_rejected() -> None:
    with pytest.raises(PushRejected):
        PushCipher(SAMPLE_KEY, "wx-other").decrypt(SAMPLE_ENCRYPTED)
    for junk in ("", "%%%", "AAAA", SAMPLE_ENCRYPTED[:-4] + "AAA="):
        with pytest.raises(PushRejected):
            PushCipher(SAMPLE_KEY, SAMPLE_APP_ID).decrypt(junk)
    with pytest.raises(ValueError, match="43"):
        PushCipher("short", SAMPLE_APP_ID)


def test_signature_is_sha1_of_the_sorted_parts() -> None:
    # sha1("".join(sorted(["token", "1409304348", "xxxxxx"]))) computed independently.
    import hashlib

    expected = hashlib.sha1(b"1409304348tokenxxxxxx").hexdigest()  # noqa: S324
    assert push_signature("token", "1409304348", "xxxxxx") == expected
