"""Masking personal data for the public needs list (公开需求清单): names, phones, addresses, text.

Pure functions: the public list shows who (surname only), where (building only) and what (with
phone and ID card numbers inside the text masked); never a phone number.
"""

from __future__ import annotations

import re

ANONYMOUS = "匿名"

# Two-character surnames: "欧阳娜娜" keeps "欧阳", not "欧".
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "轩辕", "令狐", "钟离", "端木", "独孤", "南宫", "西门",
    }
)  # fmt: skip

_CJK_RE = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"  # CJK ideographs, ext. A-H
)
_SPACE_RE = re.compile(r"\s+")

_DIGIT = "[0-9０-９]"  # full-width digits come from some input methods


def _is_cjk(char: str) -> bool:
    return _CJK_RE.match(char) is not None


def mask_name(name: str) -> str:
    """Keep the surname of a Chinese name, the first letter of any other name.

    One star per given-name character, at most two, so "李娜" → "李*", "王小明" → "王**",
    "欧阳娜娜" → "欧阳**"; a one-character name → "*"; "Anna" → "A***" (always three stars, so
    the length of a Latin name is not shown); an empty name → "匿名".
    """
    name = name.strip()
    if not name:
        return ANONYMOUS
    if _is_cjk(name[0]):
        name = _SPACE_RE.sub("", name)
        surname_length = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
        given_length = len(name) - surname_length
        if given_length <= 0:
            return "*"
        return name[:surname_length] + "*" * min(given_length, 2)
    if len(name) == 1:
        return "*"
    return name[0] + "***"


def mask_phone(phone: str | None) -> str | None:
    """Keep the first three and last four digits: "13812345678" → "138****5678" (staff views).

    Spaces, dashes and a leading +86 are ignored; a shorter (landline) number keeps only its last
    four digits, fewer than seven digits are masked entirely; None or a blank number → None.
    """
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not digits:
        return None
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) >= 7:  # a landline: the area code and exchange say little, hide them anyway
        return "****" + digits[-4:]
    return "*" * len(digits)


# A building: a number (or letter, or Chinese numeral) followed by 号楼/栋/幢/座, or "3#楼".
_NUMBERING = r"[0-9０-９A-Za-zＡ-Ｚａ-ｚ一二三四五六七八九十百零〇两]+"
_BUILDING_RE = re.compile(rf"{_NUMBERING}\s*(?:号楼|栋|幢|座|#\s*楼)")
_UNIT_RE = re.compile(rf"{_DIGIT}+\s*单元")
# A trailing room: "502", "502室", "5楼502", "3-2-502", "502号房".
_ROOM_RE = re.compile(
    rf"(?:{_DIGIT}+\s*(?:层|楼))?[\s\-—－#]*{_DIGIT}+(?:\s*[\-—－#]\s*{_DIGIT}+)*"
    r"\s*(?:室|号房|房|户)?$"
)
_TRAILING_PUNCTUATION = " \t,，、;；-—－#"


def address_to_building(address: str) -> str:
    """Cut an address down to its building, so the public list never shows a door.

    The rule: if the address names a building ("3号楼", "5栋", "2幢", "A座", "3#楼"), keep
    everything up to and including the first one: "幸福里社区阳光小区3号楼2单元502" →
    "幸福里社区阳光小区3号楼". Otherwise drop a unit ("2单元") and everything after it, then a
    trailing room number ("502", "502室", "5楼502", "3-2-502"): "阳光小区502室" → "阳光小区".
    A street number that ends in "号" ("幸福路12号") is kept: it names a whole compound.
    """
    address = address.strip()
    building = _BUILDING_RE.search(address)
    if building is not None:
        return address[: building.end()]
    unit = _UNIT_RE.search(address)
    if unit is not None:
        address = address[: unit.start()]
    address = _ROOM_RE.sub("", address.rstrip())
    return address.rstrip(_TRAILING_PUNCTUATION)


# 11-digit mainland mobile numbers, also written "138 1234 5678" or "+86-138-1234-5678".
_MOBILE_RE = re.compile(
    rf"(?<![0-9０-９])(?:(?:\+|＋)?86[\s\-]?)?"
    rf"([1１][3-9３-９]{_DIGIT})[\s\-]?{_DIGIT}{{4}}[\s\-]?({_DIGIT}{{4}})(?![0-9０-９])"
)
# 18-character resident ID numbers: region, birth date (19xx/20xx), sequence, check digit.
_ID_CARD_RE = re.compile(
    rf"(?<![0-9０-９A-Za-z])({_DIGIT}){_DIGIT}{{5}}(?:18|19|20|１８|１９|２０){_DIGIT}{{2}}"
    rf"{_DIGIT}{{2}}{_DIGIT}{{2}}{_DIGIT}{{3}}([0-9０-９XxＸｘ])(?![0-9０-９A-Za-z])"
)


def mask_text(text: str) -> str:
    """Mask mobile numbers ("138****5678") and ID card numbers ("1****************X") in text."""
    text = _ID_CARD_RE.sub(lambda m: m.group(1) + "*" * 16 + m.group(2), text)
    return _MOBILE_RE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
