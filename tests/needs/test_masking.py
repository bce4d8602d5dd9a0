"""What the public needs list shows of a person: surname, building, no phone or ID numbers."""

from __future__ import annotations

import pytest

from server.needs.masking import address_to_building, mask_name, mask_phone, mask_text


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("王小明", "王**"),
        ("李娜", "李*"),
        ("欧阳娜娜", "欧阳**"),
        ("司马光", "司马*"),
        ("诸葛孔明", "诸葛**"),
        ("欧阳", "欧*"),  # too short to be a compound surname and a given name
        ("王", "*"),
        (" 张 三 ", "张*"),
        ("买买提·艾力", "买**"),
        ("Anna", "A***"),
        ("Christopher Lee", "C***"),  # the length of a Latin name is not shown
        ("A", "*"),
        ("", "匿名"),
        ("   ", "匿名"),
    ],
)
def test_mask_name(name: str, shown: str) -> None:
    assert mask_name(name) == shown


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("010-12345678", "010****5678"),
        ("8765432", "****5432"),
        ("12345", "*****"),
        ("", None),
        (None, None),
    ],
)
def test_mask_phone(phone: str | None, shown: str | None) -> None:
    assert mask_phone(phone) == shown


@pytest.mark.parametrize(
    ("address", "building"),
    [
        ("幸福里社区阳光小区3号楼2单元502", "幸福里社区阳光小区3号楼"),
        ("阳光小区5栋1201室", "阳光小区5栋"),
        ("阳光小区十二幢3单元", "阳光小区十二幢"),
        ("华府A座2301", "华府A座"),
        ("阳光小区3#楼502", "阳光小区3#楼"),
        ("1号院3号楼4层", "1号院3号楼"),
        ("金座小区502室", "金座小区"),  # 座 in a name is not a building
        ("阳光小区2单元502", "阳光小区"),
        ("阳光小区502室", "阳光小区"),
        ("阳光小区5楼502", "阳光小区"),
        ("阳光小区3-2-502", "阳光小区"),
        ("幸福路12号502", "幸福路12号"),
        ("幸福路12号", "幸福路12号"),
        ("幸福里社区", "幸福里社区"),
        ("  阳光小区 502 ", "阳光小区"),
        ("502室", ""),
        ("", ""),
    ],
)
def test_address_to_building(address: str, building: str) -> None:
    assert address_to_building(address) == building


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("请联系13812345678", "请联系138****5678"),
        ("电话：138 1234 5678，白天在家", "电话：138****5678，白天在家"),
        ("+86-13812345678", "138****5678"),
        ("身份证110101199003071234办低保", "身份证1****************4办低保"),
        ("证件号11010120050307123x", "证件号1****************x"),
        ("老人13812345678和儿子15900001111", "老人138****5678和儿子159****1111"),
        ("楼道灯坏了三天", "楼道灯坏了三天"),
        ("12345678901 不是手机号", "12345678901 不是手机号"),
        ("卡号6222021234567890123", "卡号6222021234567890123"),  # a longer number is not a phone
        ("2026年11月3日 502室", "2026年11月3日 502室"),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked
