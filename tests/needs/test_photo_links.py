"""Signed photo links (pure): stable within a bucket, refused when forged, stretched or expired."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from yarl import URL

from server.needs.photo_links import (
    EXPIRY_BUCKET_SECONDS,
    PhotoLinkExpired,
    PhotoLinkInvalid,
    PhotoLinks,
    expiry,
)

KEY = "needs/p7/2026/11/" + "ab" * 32 + ".jpg"
LINKS = PhotoLinks("https://dangqun.example.cn", b"k" * 32, 3600)
NOW = 1_790_000_000.0
Change = Callable[[str, int, str], tuple[str, int, str]]


def parts(url: str) -> tuple[str, int, str]:
    parsed = URL(url)
    return parsed.path, int(parsed.query["exp"]), parsed.query["sig"]


def test_a_link_lives_at_least_the_ttl_and_ends_on_a_bucket() -> None:
    expires = expiry(NOW, 3600)
    assert expires % EXPIRY_BUCKET_SECONDS == 0
    assert NOW + 3600 <= expires < NOW + 3600 + EXPIRY_BUCKET_SECONDS


def test_links_made_minutes_apart_are_identical_so_phones_can_cache() -> None:
    start = expiry(NOW, 3600) - 3600 - EXPIRY_BUCKET_SECONDS + 1  # first second of a bucket
    assert LINKS.url(KEY, now=start) == LINKS.url(KEY, now=start + EXPIRY_BUCKET_SECONDS - 2)
    assert LINKS.url(KEY, now=start) != LINKS.url(KEY, now=start + EXPIRY_BUCKET_SECONDS)


def test_the_link_points_at_the_photo_route_on_the_public_url() -> None:
    url = LINKS.url(KEY, now=NOW)
    assert url.startswith(f"https://dangqun.example.cn/api/v1/media/photos/{KEY}?exp=")
    _, expires, sig = parts(url)
    LINKS.check(KEY, expires, sig, now=NOW)  # accepted
    LINKS.check(KEY, expires, sig.upper(), now=NOW)  # hex in either case


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda k, e, s: (k.replace("p7", "p8"), e, s), id="another-key"),
        pytest.param(lambda k, e, s: (k, e + EXPIRY_BUCKET_SECONDS, s), id="later-expiry"),
        pytest.param(lambda k, e, s: (k, e, s[:-1] + ("0" if s[-1] != "0" else "1")), id="sig"),
        pytest.param(lambda k, e, s: (k, e, ""), id="no-sig"),
        pytest.param(lambda k, e, s: (k, e, "签名" * 32), id="not-ascii"),
    ],
)
def test_anything_changed_is_invalid(change: Change) -> None:
    _, expires, sig = parts(LINKS.url(KEY, now=NOW))
    key, expires, sig = change(KEY, expires, sig)
    with pytest.raises(PhotoLinkInvalid):
        LINKS.check(key, expires, sig, now=NOW)


def test_another_secret_makes_other_links() -> None:
    _, expires, sig = parts(PhotoLinks(LINKS.base_url, b"x" * 32, 3600).url(KEY, now=NOW))
    with pytest.raises(PhotoLinkInvalid):
        LINKS.check(KEY, expires, sig, now=NOW)


def test_an_expired_link_says_so() -> None:
    _, expires, sig = parts(LINKS.url(KEY, now=NOW))
    LINKS.check(KEY, expires, sig, now=expires)  # still valid in its last second
    with pytest.raises(PhotoLinkExpired) as caught:
        LINKS.check(KEY, expires, sig, now=expires + 1)
    assert caught.value.status == 403 and "刷新" in caught.value.message
