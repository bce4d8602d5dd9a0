"""The fixed material of the demo community (演示数据): places, names, phone prefixes, time slots.

Only data lives here; ``server.org.seed`` draws from it with a seeded ``random.Random``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Near the centre of a mid-sized north-eastern city (牡丹江); every demo place lies within ~3 km.
CITY_CENTRE = (44.5500, 129.6300)

STREET_NAME = "牡丹街道"
STREET_CODE = "demo-street"


@dataclass(frozen=True)
class CompoundSpec:
    """A residential compound (住宅小区): a level-2 grid with its party branch."""

    name: str
    north_m: float  # offset of its centre from the community office
    east_m: float
    buildings: tuple[int, int]  # how many building grids: at least, at most


@dataclass(frozen=True)
class CommunitySpec:
    slug: str  # used in codes and openids
    name: str
    join_code: str
    address: str
    lat: float
    lng: float
    party_org: str  # the community's 党委/党总支, on its community grid
    compounds: tuple[CompoundSpec, ...]

    @property
    def code(self) -> str:
        return f"demo-{self.slug}"

    @property
    def grid_name(self) -> str:
        return f"{self.name}网格"


COMMUNITIES: tuple[CommunitySpec, ...] = (
    CommunitySpec(
        slug="xingfuli",
        name="幸福里社区",
        join_code="XFL2026",
        address="牡丹街道幸福路126号",
        lat=44.5560,
        lng=129.6240,
        party_org="幸福里社区党委",
        compounds=(
            CompoundSpec("阳光小区", north_m=-320, east_m=260, buildings=(3, 4)),
            CompoundSpec("和谐家园", north_m=240, east_m=-300, buildings=(3, 4)),
            CompoundSpec("滨江苑", north_m=380, east_m=340, buildings=(3, 4)),
        ),
    ),
    CommunitySpec(
        slug="heping",
        name="和平社区",
        join_code="HP2026",
        address="牡丹街道和平路58号",
        lat=44.5445,
        lng=129.6385,
        party_org="和平社区党总支",
        compounds=(
            CompoundSpec("翠湖小区", north_m=300, east_m=-280, buildings=(3, 4)),
            CompoundSpec("金桥花园", north_m=-260, east_m=-220, buildings=(3, 4)),
            CompoundSpec("祥和家园", north_m=-180, east_m=360, buildings=(3, 4)),
        ),
    ),
)

# Households of a building: 单元 × 楼层 × 户 (two flats a landing), a sample of which is seeded.
UNITS = (1, 2, 3)
FLOORS = (1, 2, 3, 4, 5, 6)
FLATS = (1, 2)

# Common surnames, most frequent first (weights fall off with rank).
SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "赵",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "胡",
    "朱",
    "高",
    "林",
    "何",
    "郭",
    "马",
    "罗",
    "梁",
    "宋",
    "郑",
    "谢",
    "韩",
    "唐",
    "冯",
    "于",
    "董",
    "萧",
    "程",
    "曹",
    "袁",
    "邓",
    "许",
    "傅",
    "沈",
    "曾",
    "彭",
    "吕",
    "苏",
    "卢",
    "蒋",
    "蔡",
    "贾",
    "丁",
    "魏",
    "薛",
    "叶",
    "阎",
    "余",
    "潘",
    "杜",
    "戴",
    "夏",
    "钟",
    "汪",
    "田",
    "任",
    "姜",
    "范",
    "方",
    "石",
    "姚",
    "谭",
    "廖",
    "邹",
    "熊",
    "金",
    "陆",
    "郝",
    "孔",
    "白",
    "崔",
    "康",
    "毛",
    "邱",
    "秦",
    "江",
    "史",
    "顾",
    "侯",
    "邵",
    "孟",
    "龙",
    "万",
    "段",
    "雷",
    "钱",
    "汤",
)
GIVEN_MALE = (
    "伟",
    "强",
    "磊",
    "军",
    "勇",
    "杰",
    "涛",
    "斌",
    "超",
    "明",
    "刚",
    "平",
    "辉",
    "鹏",
    "飞",
    "鑫",
    "波",
    "宁",
    "建",
    "国",
    "峰",
    "林",
    "浩",
    "宇",
    "志",
    "俊",
    "海",
    "成",
    "东",
    "德",
    "文",
    "亮",
    "龙",
    "晨",
    "博",
    "振",
    "庆",
    "春",
    "永",
    "福",
    "长",
    "兴",
    "忠",
    "学",
    "立",
)
GIVEN_FEMALE = (
    "秀",
    "英",
    "华",
    "丽",
    "娟",
    "敏",
    "静",
    "燕",
    "艳",
    "芳",
    "玲",
    "红",
    "霞",
    "梅",
    "兰",
    "萍",
    "婷",
    "雪",
    "慧",
    "琳",
    "颖",
    "欣",
    "怡",
    "佳",
    "倩",
    "晶",
    "淑",
    "凤",
    "洁",
    "琴",
    "云",
    "莉",
    "丹",
    "悦",
    "玉",
    "桂",
    "春",
    "晓",
    "文",
    "婉",
)

# Mobile prefixes of the three carriers that a demo phone number may start with (13x/15x/18x).
PHONE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
)

# When volunteers usually have time: (pattern name, the weekdays it may fall on, start, end).
# Monday is weekday 0, as in VolunteerProfile.availability.
AVAILABILITY_PATTERNS: tuple[tuple[str, tuple[int, ...], tuple[tuple[str, str], ...]], ...] = (
    ("工作日晚上", (0, 1, 2, 3, 4), (("18:30", "20:30"), ("19:00", "21:00"))),
    ("周末上午", (5, 6), (("08:30", "11:30"), ("09:00", "12:00"))),
    ("周末下午", (5, 6), (("14:00", "17:00"), ("14:30", "17:30"))),
    ("工作日白天", (0, 1, 2, 3, 4), (("09:00", "11:30"), ("14:30", "17:00"))),
)
