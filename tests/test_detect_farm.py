"""An emulator farm whose accounts each look up a handful of a list's numbers is found by the strangers they find, pooled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_detect_slots import DAY, START, _circles, _row  # circles of friends on home lines

from graph.detect import find_networks
from graph.detect.frames import events_frame

CARRIER = [f"100.70.{i}.1" for i in range(4)]


def _farm(n: int, rng: np.random.Generator, *, abroad: bool = False) -> list[dict]:
    """``n`` aged accounts on two emulator fingerprints, behind the carrier's shared addresses.

    Each, at a moment of its own, looks up five numbers of a leaked list: two people of
    different circles (who do not know each other, nor the account) and three numbers
    nobody uses. Two found of five is an address book's hit ratio, and five lookups an
    address book's volume: no account stands out, and none finds enough people to have a
    closure of its own. With ``abroad``, half the accounts on each emulator work the list's
    French part (their five numbers are French).
    """
    rows = []
    for k in range(n):
        account, ts = f"farm{k:02d}", START + int(rng.integers(0, 10 * DAY))
        ip = CARRIER[int(rng.integers(len(CARRIER)))]
        found = [f"c{(2 * k) % 60:02d}-1", f"c{(2 * k + 1) % 60:02d}-2"]
        targets = [(t, True) for t in found] + [(f"listed-{k}-{j}", False) for j in range(3)]
        region = "FR" if abroad and k % 4 < 2 else "DE"
        rows += [{**_row(account, t, ip=ip, ts=ts + i * 7_000, matched=hit, kind="mobile"), "device_id": f"emu-{k % 2}",
                  "phone_region": region} for i, (t, hit) in enumerate(targets)]
    return rows


def _case(*, abroad: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    rows = _circles(60, 5, rng)
    for row in rows:
        circle, member = row["account_id"][1:].split("-")
        if int(circle) < 12 and member == "0":
            row["device_id"] = "rare-model"  # a dozen strangers with one uncommon phone model, finding their friends
        elif 20 <= int(circle) < 26:
            row["device_id"] = f"tablet-{circle}"  # families syncing from one tablet
        if 30 <= int(circle) < 40:
            row.update(ip=CARRIER[int(circle) % 4], ip_kind="mobile", ip_prefix="100.70.0.0/16")  # the carrier's NAT
    rows += _farm(40, rng, abroad=abroad)
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 600 * DAY})
    return events_frame(rows), accounts


@pytest.mark.parametrize("abroad", [False, True], ids=["one country", "two countries"])
def test_an_emulator_farm_looking_up_a_few_strangers_each_is_one_flagged_operation_and_look_alikes_are_not(abroad):
    # working two countries' parts of the list, taking turns on the same emulators, the farm is still one
    # operation: not two operations renting one pool of exits, each on its own country's list
    events, accounts = _case(abroad=abroad)
    flagged = [c for c in find_networks(events, accounts=accounts).clusters if c.flagged]
    (farm,) = [c for c in flagged if any(m.startswith("farm") for m in c.members)]
    assert sum(m.startswith("farm") for m in farm.members) >= 38
    assert farm.kind == "targeted lookups"
    assert any("do not know each other" in reason for reason in farm.reasons)
    # the rare phone model's owners, the families' tablets and the carrier's other subscribers are not flagged
    assert [m for c in flagged for m in c.members if not m.startswith("farm")] == []
