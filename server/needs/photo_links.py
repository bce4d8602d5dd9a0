"""Signed, expiring photo links (照片链接): HMAC signing and checking, pure, no I/O.

Photos of a need can show the inside of a home, so they are never public. The mini-app's
``<image>`` component cannot send an ``Authorization`` header, so the views that may show a need's
photos (``visibility.shows_photos``) hand out links that carry their own permission: the key, an
expiry time and an HMAC-SHA256 of both under ``DANGQUN_MEDIA_URL_SECRET``. Whoever holds a link may
open the photo until it expires, as they may read the detail it came with; nobody can make a link
for another photo or a later time without the secret.

Expiry times are rounded up to whole ``EXPIRY_BUCKET_SECONDS``, so a page reloaded a minute later
gets the same URLs and the phone's image cache keeps working.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from server.core import errors

PHOTO_PATH = "/api/v1/media/photos/"
EXPIRY_BUCKET_SECONDS = 600  # links handed out within the same 10 minutes are identical


class PhotoLinkInvalid(errors.PermissionDenied):
    code = "photo_link_invalid"
    default_message = "照片链接无效"


class PhotoLinkExpired(errors.PermissionDenied):
    code = "photo_link_expired"
    default_message = "照片链接已过期，请刷新页面后重试"


def expiry(now: float, ttl_seconds: int) -> int:
    """When a link made now expires: at least ``ttl_seconds`` away, on a bucket boundary."""
    return math.ceil((now + ttl_seconds) / EXPIRY_BUCKET_SECONDS) * EXPIRY_BUCKET_SECONDS


def signature(secret: bytes, key: str, expires: int) -> str:
    """The hex HMAC-SHA256 of the key and expiry (keys never hold a newline)."""
    return hmac.new(secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PhotoLinks:
    """Makes and checks the photo links of one deployment."""

    base_url: str  # how phones reach the API (DANGQUN_PUBLIC_URL)
    secret: bytes
    ttl_seconds: int

    def url(self, key: str, *, now: float | None = None) -> str:
        """A link to one photo, valid for at least ``ttl_seconds``."""
        expires = expiry(time.time() if now is None else now, self.ttl_seconds)
        return (
            f"{self.base_url}{PHOTO_PATH}{quote(key, safe='/')}"
            f"?exp={expires}&sig={signature(self.secret, key, expires)}"
        )

    def urls(self, keys: Iterable[str], *, now: float | None = None) -> list[str]:
        moment = time.time() if now is None else now
        return [self.url(key, now=moment) for key in keys]

    def check(self, key: str, expires: int, sig: str, *, now: float | None = None) -> None:
        """Refuse a link that was not made here (403 ``photo_link_invalid``) or ran out (403
        ``photo_link_expired``). The signature is checked first, so a forged time is invalid."""
        expected = signature(self.secret, key, expires)
        # compare_digest refuses non-ASCII text with a TypeError: such a signature is just wrong
        if not (sig.isascii() and hmac.compare_digest(expected, sig.lower())):
            raise PhotoLinkInvalid()
        if expires < (time.time() if now is None else now):
            raise PhotoLinkExpired(details={"expired_at": expires})
