"""Subscribe-message template data, checked and cut to WeChat's field limits (pure).

WeChat refuses a whole message (errcode 47003) when one value breaks its field type's rule, so
every value is fitted before sending: long text is cut with an ellipsis, forbidden characters are
dropped, and a value that cannot be saved becomes a neutral placeholder.
"""

from __future__ import annotations

import datetime as dt
import re

THING_MAX = 20  # 'thing' longer than 20 characters is refused (47003)
PHRASE_MAX = 5  # 'phrase': at most 5 Chinese characters, nothing else
NAME_MAX_CHINESE = 10  # 'name': 10 characters when it holds Chinese...
NAME_MAX_OTHER = 20  # ...or 20 letters and symbols
STRING_MAX = 32  # 'character_string', 'number' and 'letter'
SYMBOL_MAX = 5
PHONE_MAX = 17
CAR_NUMBER_MAX = 8
ELLIPSIS = "…"
PLACEHOLDER = "-"  # 'thing' and 'name' shown when the value is empty
PHRASE_PLACEHOLDER = "有更新"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_CJK_RE = re.compile(f"[{_CJK}]")
_NOT_CJK_RE = re.compile(f"[^{_CJK}]")
_SPACES_RE = re.compile(r"\s+")
_TIME_FORMAT = "%Y-%m-%d %H:%M"  # what WeChat shows as 2026年11月22日 16:30
_DATE_FORMAT = "%Y年%m月%d日"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _one_line(value: object) -> str:
    return _SPACES_RE.sub(" ", str(value)).strip()


def _parse_iso(text: str) -> dt.datetime | str:
    """An ISO 8601 time (as payloads carry them) as a datetime; other text as it is.

    WeChat refuses '2026-11-30T09:00:00+00:00' in a time or date field (47003): it must be
    formatted, and shown in local time.
    """
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return text


def fit_value(field_type: str, value: object, *, tz: dt.tzinfo = dt.UTC) -> str:
    """One value made acceptable for its field type (datetimes are shown in ``tz``)."""
    if field_type in ("time", "date") and isinstance(value, str):
        value = _parse_iso(value)
    if isinstance(value, dt.datetime):
        local = value.astimezone(tz) if value.tzinfo else value
        if field_type == "date":
            return local.strftime(_DATE_FORMAT)
        value = local.strftime(_TIME_FORMAT)
    elif isinstance(value, dt.date) and field_type in ("date", "time"):
        return value.strftime(_DATE_FORMAT)
    text = _one_line(value)
    match field_type:
        case "thing":
            return _cut(text, THING_MAX) or PLACEHOLDER
        case "phrase":
            return _NOT_CJK_RE.sub("", text)[:PHRASE_MAX] or PHRASE_PLACEHOLDER
        case "name":
            most = NAME_MAX_CHINESE if _CJK_RE.search(text) else NAME_MAX_OTHER
            return _cut(text, most) or PLACEHOLDER
        case "character_string":
            ascii_only = "".join(ch for ch in text if "\x21" <= ch <= "\x7e")
            return ascii_only[:STRING_MAX] or PLACEHOLDER
        case "number":
            number = re.search(r"[+-]?\d+(?:\.\d+)?", text)
            return number[0][: STRING_MAX + 1] if number else "0"
        case "letter":
            return "".join(ch for ch in text if ch.isascii() and ch.isalpha())[:STRING_MAX] or "A"
        case "symbol":
            kept = "".join(ch for ch in text if not (ch.isalnum() or ch.isspace()))
            return kept[:SYMBOL_MAX] or PLACEHOLDER
        case "phone_number":
            return "".join(ch for ch in text if ch.isdigit() or ch in "+-")[:PHONE_MAX] or "0"
        case "car_number":
            return text.replace(" ", "")[:CAR_NUMBER_MAX] or PLACEHOLDER
        case "amount":
            amount = re.search(r"\d+(?:\.\d{1,2})?", text)
            return f"{amount[0]}元" if amount else "0元"
        case "time" | "date":
            return text  # already formatted by the caller (datetimes are formatted above)
        case _:  # a type we do not know: hold it to the strictest text rule
            return _cut(text, THING_MAX) or PLACEHOLDER


def fit_template_data(
    fields: dict[str, str], values: dict[str, object], *, tz: dt.tzinfo = dt.UTC
) -> dict[str, dict[str, str]]:
    """The ``data`` object of subscribe/send: every template field present and within limits."""
    return {
        key: {"value": fit_value(field_type, values.get(key, ""), tz=tz)}
        for key, field_type in fields.items()
    }
