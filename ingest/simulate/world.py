"""The simulated world: accounts, phone numbers, IPs and devices, as registries.

Rows of simulated traffic refer to entities by integer index into these
registries; only the writer turns indices into the opaque strings of the case
files. That keeps generation vectorized (numpy arrays, no per-row Python) and
makes every identifier come from one generator, whatever the entity's role, so
that nothing in an id tells a campaign account from a benign one.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import phonenumbers

from ingest.simulate.catalog import (
    APP_USER_AGENTS,
    BROWSER_USER_AGENTS,
    COUNTRIES,
    DAY_MS,
    FIRST_NAMES,
    HANDLE_WORDS,
    NETWORKS,
)

__all__ = ["World", "Batch", "concat_batches", "BATCH_COLUMNS"]

_ID_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)

# Columns of a batch of simulated request rows, as integer codes.
BATCH_COLUMNS = {
    "ts": np.int64,  # epoch milliseconds
    "ip": np.int32,  # index into World.ips
    "endpoint": np.int8,  # index into catalog.ENDPOINTS
    "account": np.int32,  # index into World accounts, -1 = unauthenticated
    "device": np.int32,  # index into World.devices, -1 = none
    "status": np.int16,  # HTTP status before lookup resolution (0 = decide by match)
    "phone": np.int64,  # E.164 digits, 0 = no phone
    "request": np.int64,  # batch id of an upload, 0 = none
}

Batch = dict[str, np.ndarray]


def concat_batches(batches: list[Batch]) -> Batch:
    """Stack batches column by column (an empty list gives an empty batch)."""
    batches = [b for b in batches if len(b["ts"])]
    if not batches:
        return {name: np.empty(0, dtype=dt) for name, dt in BATCH_COLUMNS.items()}
    return {
        name: np.concatenate([b[name] for b in batches]).astype(dt, copy=False)
        for name, dt in BATCH_COLUMNS.items()
    }


_ACCOUNT_COLUMNS = {
    "created_at": np.int64,
    "phone": np.int64,
    "phone_country": object,
    "discoverable": bool,
    "signup_ip": np.int32,
    "signup_device": np.int32,
    "lang": object,
    "followers": np.int64,
    "group": object,
    "hard_negative": object,
    "kind": object,
}


class World:
    """Registries of everything the simulated logs mention.

    Parameters
    ----------
    rng : numpy.random.Generator
        The build-time random source; the same generator state gives the same world.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.account = {name: np.empty(0, dtype=dt) for name, dt in _ACCOUNT_COLUMNS.items()}
        self.ips: list[str] = []
        self.ip_network: list[str] = []
        self._ip_index: dict[str, int] = {}
        self._network_use: dict[str, int] = {}
        self.devices: list[str] = []
        self.device_ua: list[str] = []
        self._used_ids: set[str] = set()
        self._block_ok: dict[int, bool] = {}
        self.blocks: dict[str, list[int]] = {c: [] for c in COUNTRIES}
        self._numbers_used: set[int] = set()
        self.suspended: dict[int, int] = {}  # account index -> epoch ms it was suspended
        # prior knowledge for the labels table: (entity, index, label, actor, source, note)
        self.prior_labels: list[tuple[str, int, str, str, str, str]] = []

    # ---- identifiers -------------------------------------------------------------
    def opaque_ids(self, n: int, length: int = 12) -> list[str]:
        """``n`` fresh random identifiers (letters and digits, first a letter)."""
        out: list[str] = []
        while len(out) < n:
            need = n - len(out)
            codes = _ID_ALPHABET[self.rng.integers(0, 36, size=(need, length))]
            codes[:, 0] = _ID_ALPHABET[self.rng.integers(0, 26, size=need)]
            for raw in codes:
                text = raw.tobytes().decode()
                if text not in self._used_ids:
                    self._used_ids.add(text)
                    out.append(text)
        return out

    # ---- phone numbers -------------------------------------------------------------
    def _valid_block(self, block: int) -> bool:
        """Whether the 1000-number block ``block`` (E.164 // 1000) is an allocated range."""
        known = self._block_ok.get(block)
        if known is None:
            probes = (0, 999, 137, 500, 862)
            known = all(
                phonenumbers.is_valid_number(phonenumbers.parse(f"+{block * 1000 + p}"))
                for p in probes
            )
            self._block_ok[block] = known
        return known

    def random_blocks(self, country: str, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """``n`` distinct valid 1000-number blocks of ``country``'s mobile ranges, none in ``exclude``."""
        spec = COUNTRIES[country]
        out: list[int] = []
        seen: set[int] = set() if exclude is None else {int(b) for b in exclude}
        while len(out) < n:
            prefix = spec.prefixes[int(self.rng.integers(len(spec.prefixes)))]
            high = int(self.rng.integers(10 ** (spec.subscriber_digits - 3)))
            block = int(f"{spec.calling_code}{prefix}") * 10 ** (spec.subscriber_digits - 3) + high
            if block in seen or not self._valid_block(block):
                continue
            seen.add(block)
            out.append(block)
        return np.array(out, dtype=np.int64)

    def populate_blocks(self, country: str, n: int) -> None:
        """Add ``n`` blocks to the country's populated number space."""
        self.blocks[country].extend(int(b) for b in self.random_blocks(country, n))

    def draw_numbers(self, country: str, n: int) -> np.ndarray:
        """``n`` distinct, not yet assigned numbers in the country's populated blocks."""
        blocks = self.blocks[country]
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            need = n - filled
            cand = (
                np.asarray(blocks, dtype=np.int64)[self.rng.integers(len(blocks), size=need * 2)]
                * 1000
            )
            cand += self.rng.integers(1000, size=need * 2)
            for number in cand:
                number = int(number)
                if number not in self._numbers_used:
                    self._numbers_used.add(number)
                    out[filled] = number
                    filled += 1
                    if filled == n:
                        break
        return out

    # ---- networks and devices ------------------------------------------------------
    def new_ips(self, network: str, n: int) -> np.ndarray:
        """``n`` fresh host addresses inside ``network`` (never .0 or .255)."""
        net = ipaddress.ip_network(NETWORKS[network].cidr)
        base = int(net.network_address)
        used = self._network_use.get(network, 0)
        if used + n > 0.8 * net.num_addresses:
            raise ValueError(
                f"network {network} ({net}) cannot hold {used + n} simulated addresses; lower the scale"
            )
        self._network_use[network] = used + n
        out: list[int] = []
        while len(out) < n:
            host = int(self.rng.integers(1, net.num_addresses - 1))
            if host % 256 in (0, 255):
                continue
            text = str(ipaddress.ip_address(base + host))
            if text in self._ip_index:
                continue
            self._ip_index[text] = len(self.ips)
            out.append(len(self.ips))
            self.ips.append(text)
            self.ip_network.append(network)
        return np.array(out, dtype=np.int32)

    def new_devices(
        self, n: int, user_agents: tuple[str, ...] | None = None, *, browser_share: float = 0.08
    ) -> np.ndarray:
        """``n`` new devices, each with one client user agent for its lifetime."""
        start = len(self.devices)
        ids = self.opaque_ids(n, length=16)
        for device_id in ids:
            if user_agents is not None:
                ua = user_agents[int(self.rng.integers(len(user_agents)))]
            elif self.rng.random() < browser_share:
                ua = BROWSER_USER_AGENTS[int(self.rng.integers(len(BROWSER_USER_AGENTS)))]
            else:
                ua = APP_USER_AGENTS[int(self.rng.integers(len(APP_USER_AGENTS)))]
            self.devices.append(device_id)
            self.device_ua.append(ua)
        return np.arange(start, start + n, dtype=np.int32)

    # ---- accounts ----------------------------------------------------------------------
    def new_accounts(
        self,
        n: int,
        *,
        country: str | np.ndarray,
        created_at: np.ndarray,
        group: str,
        kind: str = "benign",
        hard_negative: str | None = None,
        discoverable_share: float = 0.6,
        phone_share: float = 0.93,
        signup_ip: np.ndarray | None = None,
        signup_device: np.ndarray | None = None,
        followers_median: float = 120.0,
    ) -> np.ndarray:
        """Register ``n`` accounts and return their indices.

        Every account, benign or not, gets its phone, handle and id from the same
        generators; only the ground truth (kept apart) records its group.
        """
        rng = self.rng
        countries = (
            np.full(n, country, dtype=object)
            if isinstance(country, str)
            else np.asarray(country, dtype=object)
        )
        has_phone = rng.random(n) < phone_share
        phones = np.zeros(n, dtype=np.int64)
        for code in np.unique(countries[has_phone]):
            mask = has_phone & (countries == code)
            phones[mask] = self.draw_numbers(str(code), int(mask.sum()))
        start = self.n_accounts
        columns = {
            "created_at": created_at,
            "phone": phones,
            "phone_country": np.where(has_phone, countries, None),
            "discoverable": has_phone & (rng.random(n) < discoverable_share),
            "signup_ip": np.full(n, -1) if signup_ip is None else signup_ip,
            "signup_device": np.full(n, -1) if signup_device is None else signup_device,
            "lang": np.array([COUNTRIES[str(c)].lang for c in countries], dtype=object),
            "followers": np.floor(rng.lognormal(np.log(followers_median), 1.3, size=n)),
            "group": np.full(n, group, dtype=object),
            "hard_negative": np.full(n, hard_negative, dtype=object),
            "kind": np.full(n, kind, dtype=object),
        }
        for name, dt in _ACCOUNT_COLUMNS.items():
            self.account[name] = np.concatenate(
                [self.account[name], np.asarray(columns[name]).astype(dt)]
            )
        return np.arange(start, start + n, dtype=np.int32)

    def handles(self, n: int) -> list[str]:
        """Public screen names, all from one generator (name, word, digits)."""
        rng = self.rng
        names = np.array(FIRST_NAMES)[rng.integers(len(FIRST_NAMES), size=n)]
        words = np.array(HANDLE_WORDS)[rng.integers(len(HANDLE_WORDS), size=n)]
        style = rng.integers(4, size=n)
        digits = rng.integers(0, 10**4, size=n)
        long_digits = rng.integers(10**7, 10**8, size=n)
        out = []
        for i in range(n):
            if style[i] == 0:
                out.append(f"{names[i]}_{words[i]}")
            elif style[i] == 1:
                out.append(f"{words[i]}{names[i]}{digits[i]}")
            elif style[i] == 2:
                out.append(f"{names[i]}{long_digits[i]}")
            else:
                out.append(f"{names[i]}.{words[i]}{digits[i] % 100}")
        return out

    @property
    def n_accounts(self) -> int:
        return len(self.account["phone"])

    def phones_of(self, accounts: np.ndarray) -> np.ndarray:
        """The phone number of each account (0 where it has none)."""
        return self.account["phone"][accounts]

    def created_of(self, accounts: np.ndarray) -> np.ndarray:
        """Each account's sign-up time, epoch ms."""
        return self.account["created_at"][accounts]

    def finalize(self) -> None:
        """Draw the public ids and handles, and index the discoverable phones.

        Ids are drawn only now, in a random order, so that their draw order
        cannot follow the order in which groups were built.
        """
        n = self.n_accounts
        order = self.rng.permutation(n)
        self.account_ids = np.empty(n, dtype=object)
        self.account_ids[order] = self.opaque_ids(n)
        self.account_handles = np.empty(n, dtype=object)
        self.account_handles[order] = self.handles(n)
        findable = np.flatnonzero(self.account["discoverable"])
        by_phone = np.argsort(self.account["phone"][findable], kind="stable")
        self._lookup_phones = self.account["phone"][findable][by_phone]
        self._lookup_accounts = findable[by_phone].astype(np.int32)

    def match(self, phones: np.ndarray) -> np.ndarray:
        """The account each phone number finds (-1 where none is discoverable)."""
        pos = np.searchsorted(self._lookup_phones, phones)
        pos = np.minimum(pos, max(len(self._lookup_phones) - 1, 0))
        if not len(self._lookup_phones):
            return np.full(len(phones), -1, dtype=np.int32)
        hit = self._lookup_phones[pos] == phones
        return np.where(hit & (phones > 0), self._lookup_accounts[pos], -1).astype(np.int32)


def day_of(ts_ms: np.ndarray, start_ms: int) -> np.ndarray:
    """Index of the simulated day each timestamp falls in."""
    return (ts_ms - start_ms) // DAY_MS
