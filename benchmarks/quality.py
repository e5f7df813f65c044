"""Detection quality on drawn tradecraft and on independent calibration cases, against three baselines.

Protocol: the detector's constants are chosen on draws 1-10 (`--split tuning`) and
reported unchanged on draws 11-20 (`--split report`, the default). `--draws A-B`
overrides the split; draws above 20 are further development draws (picked by the
tradecraft they draw, or narrowed to one kind of operation with `--only`), never
the reported figures.

For each draw: simulate ``--scenario drawn --seed DRAW`` (3 to 6 campaigns whose
tradecraft is drawn at random, among a benign population with every look-alike;
see ``ingest/simulate/tradecraft.py``) into a temporary folder, ingest it into a
fresh workspace with the real pipeline, run ``graph.detect.run.detect`` and score
the members of clusters scoring >= 0.5 against the truth:

* precision, recall, F1 of flagged accounts against campaign accounts;
* ARI between campaigns and clusters over campaign accounts (an unflagged
  account is a singleton, so one operation split into many clusters scores low);
* attribution: share of campaigns whose flagged cluster holding most of their
  accounts has the campaign's origin country as ``top_ip_country``;
* HN FP: hard-negative (look-alike) accounts flagged.

Baselines, scored identically on the same events:

* ``rule``: the per-account rule, every account with more than 100 lookups
  and under 10% of its distinct numbers matched, each its own cluster;
* ``ip-components``: connected components of accounts with lookups that
  share an IP (BotGraph-style), components of 3 or more flagged;
* ``idf-louvain``: Louvain (python-louvain, seed 0) on the account-account graph of
  shared IPs, each shared IP weighing log(N_accounts / accounts_on_ip),
  communities of 3 or more flagged.

Recall by tradecraft: every campaign of every draw run, pooled by each value
of what it drew (number selection, division, infrastructure, devices, timing,
account age, and selection with infrastructure together), so that a
tradecraft missed whenever it is drawn shows however rarely it is.

"sybilscope beats every baseline" on a draw means its F1 is strictly higher
than each baseline's F1 there.

Calibration (``--calibration DIR``, default ``../shared/calibration`` beside
the repository): every case folder with a ``<case>.truth.json`` is run as a
user would (``sybilscope --workspace W ingest DIR``, ``detect``, ``export
--format csv --out OUT``) and scored by the folder's own ``score.py`` (run as a
subprocess); the baselines' clusters are written as ``clusters.csv`` and
``members.csv`` and scored by the same script. Those cases are only measured
here, never tuned on.

Time on this 2-core machine (measured at commits a00fbba and a5a8ce0): a
draw at scale 1 (~200k request rows) takes 4-14 s (simulate 0.5-2.6 s, ingest
1.2-5.7 s, detect 1.1-5.2 s, baselines 0.4-1.7 s); each calibration case
(about 1.16M rows) about 30 s with its baselines; a default run (10 draws and
both calibration cases) 128-143 s, far under the 15 minutes allowed.

``--camouflage`` camouflages every campaign of every draw (the same draws,
intensity 0.5-1), the harder half of the protocol: report both.

``--only CHOICE=VALUE[,VALUE]`` (repeatable; development draws only) draws
only campaigns taking those values, e.g. ``--draws 101-104 --only
selection=leaked_list --only infrastructure=hosting,vpn_exits --only
timing=cron``: target-list operations on dedicated or shared exits, the kind
of case an independent simulation tried on us.

``--days N`` keeps each case's first N days only (draws and calibration cases
alike; a draw spans 14 days, a calibration case 31), scoring the campaign
accounts active by then: what an analyst holding the first week of logs
would find.

Run: ``.venv/bin/python benchmarks/quality.py [--split tuning|report] [--camouflage]
[--draws 1-20] [--quick] [--scale 1] [--days N] [--only CHOICE=V,...] [--json out.json] [--calibration DIR]``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import networkx as nx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph import warehouse  # noqa: E402
from graph.detect.clustering import louvain_communities  # noqa: E402
from graph.detect.metrics import adjusted_rand_index, precision_recall_f1  # noqa: E402
from graph.detect.projection import workspace_events  # noqa: E402
from graph.detect.run import detect  # noqa: E402
from graph.detect.scoring import FLAG_THRESHOLD  # noqa: E402
from graph.store import open_store  # noqa: E402
from graph.workspace import Workspace  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from ingest.readers import discover  # noqa: E402
from ingest.simulate import simulate  # noqa: E402
from ingest.simulate.tradecraft import CHOICES  # noqa: E402

SPLITS = {"tuning": (1, 10), "report": (11, 20)}
METHODS = ("sybilscope", "rule", "ip-components", "idf-louvain")
BASELINES = METHODS[1:]
METRICS = ("precision", "recall", "f1", "ari", "attribution", "hn_fp")
DEFAULT_CALIBRATION = ROOT.parent / "shared" / "calibration"


# ---- baselines -------------------------------------------------------------------------------


def _lookers_ips(events) -> list[tuple[str, str]]:
    return events.connection.execute(f"""
        WITH lookers AS (SELECT DISTINCT account_id FROM {events.table}
                         WHERE phone_hash IS NOT NULL AND account_id IS NOT NULL)
        SELECT DISTINCT e.account_id, e.ip FROM {events.table} e JOIN lookers USING (account_id)
        WHERE e.ip IS NOT NULL
    """).fetchall()


def baseline_clusters(events) -> dict[str, list[set[str]]]:
    """Flagged clusters of the three baselines on ``events`` (a :class:`Events`)."""
    table = events.table
    per_account = events.connection.execute(f"""
        SELECT account_id, count(*) AS lookups, count(DISTINCT phone_hash) AS numbers,
               count(DISTINCT CASE WHEN matched_account_id IS NOT NULL THEN phone_hash END) AS matched
        FROM {table} WHERE account_id IS NOT NULL AND phone_hash IS NOT NULL GROUP BY 1
    """).fetchall()
    rule = [{a} for a, n, distinct, hit in per_account if n > 100 and hit < 0.10 * distinct]

    pairs = _lookers_ips(events)
    bipartite = nx.Graph()
    bipartite.add_edges_from((("a", a), ("i", ip)) for a, ip in pairs)
    components = []
    for part in nx.connected_components(bipartite):
        members = {name for kind, name in part if kind == "a"}
        if len(members) >= 3:
            components.append(members)

    n_accounts = len({a for a, _ in pairs})
    weighted = events.connection.execute(
        f"""
        WITH lookers AS (SELECT DISTINCT account_id FROM {table}
                         WHERE phone_hash IS NOT NULL AND account_id IS NOT NULL),
             used AS (SELECT DISTINCT e.account_id, e.ip FROM {table} e JOIN lookers USING (account_id)
                      WHERE e.ip IS NOT NULL),
             idf AS (SELECT ip, ln(? / count(*)) AS w FROM used GROUP BY ip HAVING count(*) > 1)
        SELECT x.account_id, y.account_id, round(sum(idf.w) * 1e6)::BIGINT AS w
        FROM used x JOIN used y ON x.ip = y.ip AND x.account_id < y.account_id
        JOIN idf ON idf.ip = x.ip
        GROUP BY 1, 2 HAVING w > 0
        ORDER BY 1, 2
        """,
        [float(max(n_accounts, 1))],
    ).fetchall()
    # integer weights, in a fixed order (the order edges arrive in is part of a seeded run), and the reference
    # Louvain: networkx 3.6's looped forever on a development draw (round-off ties, networkx issue 8739)
    G = nx.Graph()
    G.add_weighted_edges_from(weighted)
    louvain = (
        [c for c in louvain_communities(G, weight="weight", seed=0) if len(c) >= 3]
        if G.number_of_edges()
        else []
    )
    return {"rule": rule, "ip-components": components, "idf-louvain": louvain}


def top_countries(events, clusters: list[set[str]]) -> list[str | None]:
    """The IP country with the most of each cluster's requests."""
    rows = events.connection.execute(f"""
        SELECT account_id, ip_country, count(*) FROM {events.table}
        WHERE account_id IS NOT NULL AND ip_country IS NOT NULL GROUP BY 1, 2
    """).fetchall()
    by_account: dict[str, Counter] = defaultdict(Counter)
    for account, country, n in rows:
        by_account[account][country] += n
    out = []
    for members in clusters:
        total: Counter = Counter()
        for a in members:
            total.update(by_account.get(a, {}))
        out.append(min(total, key=lambda c: (-total[c], c)) if total else None)
    return out


# ---- scoring (drawn cases) --------------------------------------------------------------------


def score(truth: dict, clusters: list[set[str]], countries: list[str | None]) -> dict:
    """P, R, F1, ARI, attribution and hard-negative accounts flagged, for flagged ``clusters``."""
    label = {a: i for i, members in enumerate(clusters) for a in members}
    campaign = {a: name for name, c in truth["campaigns"].items() for a in c["accounts"]}
    hard = {a: v["hard_negative"] for a, v in truth["accounts"].items() if v["hard_negative"]}
    precision, recall, f1 = precision_recall_f1(set(label), set(campaign))
    ari = (
        adjusted_rand_index(campaign, {a: label.get(a, f"none:{a}") for a in campaign})
        if campaign
        else 1.0
    )
    hits = 0
    found = {
        name: sum(1 for a in spec["accounts"] if a in label) / max(1, len(spec["accounts"]))
        for name, spec in truth["campaigns"].items()
    }
    for spec in truth["campaigns"].values():
        votes = Counter(label[a] for a in spec["accounts"] if a in label)
        if votes and countries[votes.most_common(1)[0][0]] == spec["origin_country"]:
            hits += 1
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "ari": ari,
        "attribution": hits / len(truth["campaigns"]) if truth["campaigns"] else 1.0,
        "hn_fp": sum(1 for a in label if a in hard),
        "hn_groups": dict(Counter(hard[a] for a in label if a in hard)),
        "flagged": len(label),
        "clusters": len(clusters),
        "campaign_recall": found,
    }


DAY_MS = 86_400_000


def observe_days(case: Path, truth: dict, days: float | None) -> dict:
    """Keep a case's first ``days`` of requests (from its first request's UTC midnight), in place.

    Analysts rarely hold a whole month when they start: this is what
    detection finds in the first week or two. The campaign accounts with no
    request left are dropped from the truth returned (nothing could find
    them), and so are campaigns left with none, whichever of the two truth
    layouts it has: the project's own (``campaigns`` listing ``accounts``) or
    the calibration cases' (account to label, ``benign`` or a campaign).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> pq.write_table(pa.table({"ts": pa.array([0, DAY_MS + 5, 3 * DAY_MS], pa.timestamp("ms", tz="UTC")),
    ...                          "account_id": ["a", "b", "c"]}), folder / "requests.parquet")
    >>> kept = observe_days(folder, {"accounts": {"a": "op", "c": "op", "x": "benign"}}, 2)
    >>> pq.read_table(folder / "requests.parquet")["account_id"].to_pylist(), kept["accounts"]
    (['a', 'b'], {'a': 'op', 'x': 'benign'})
    """
    if days is None:
        return truth
    files = sorted(case.glob("requests*.parquet"))
    if not files:
        raise SystemExit(f"--days reads a case's requests as Parquet, and {case} has none")
    tables = {path: pq.read_table(path) for path in files}

    def epoch_ms(table: pa.Table) -> pa.Array:
        return pc.cast(pc.cast(table["ts"], pa.timestamp("ms", tz="UTC"), safe=False), pa.int64())

    start = min(pc.min(epoch_ms(t)).as_py() for t in tables.values() if t.num_rows) // DAY_MS * DAY_MS
    end = pa.scalar(start + round(days * DAY_MS), pa.int64())
    active: set[str] = set()
    for path, table in tables.items():
        table = table.filter(pc.less(epoch_ms(table), end))
        pq.write_table(table, path)
        active.update(a for a in pc.unique(table["account_id"]).to_pylist() if a is not None)
    out = json.loads(json.dumps(truth))
    if "campaigns" in out and all(isinstance(c, dict) and "accounts" in c for c in out["campaigns"].values()):
        for campaign in out["campaigns"].values():
            campaign["accounts"] = [a for a in campaign["accounts"] if a in active]
        out["campaigns"] = {name: c for name, c in out["campaigns"].items() if c["accounts"]}
    else:
        out["accounts"] = {a: label for a, label in out["accounts"].items() if label == "benign" or a in active}
    return out


def evaluate_draw(draw: int, scale: float, camouflage: bool = False, days: float | None = None,
                  only: dict[str, list[str]] | None = None) -> dict:
    """Simulate, ingest and detect one draw (its first ``days`` only, when given); score sybilscope and the baselines.

    ``only`` narrows the draw's campaigns to those tradecraft values (``simulate(tradecraft=...)``).
    """
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case"
        started = time.perf_counter()
        simulate(
            case, scenario="drawn", seed=draw, scale=scale, fmt="parquet", camouflage=camouflage,
            tradecraft=only,
        )
        timings["simulate"] = time.perf_counter() - started
        truth = observe_days(case, json.loads((Path(tmp) / "case.truth.json").read_text()), days)
        ws = Workspace.open(Path(tmp) / "ws")
        store = open_store(ws)
        try:
            started = time.perf_counter()
            sources, _ = discover(case)
            ingest(ws, store, sources)
            timings["ingest"] = time.perf_counter() - started
            started = time.perf_counter()
            result = detect(ws, store)
            timings["detect"] = time.perf_counter() - started
            flagged = [c for c in result.clusters if c.score >= FLAG_THRESHOLD]
            rows = {
                "sybilscope": score(
                    truth, [set(c.members) for c in flagged], [c.top_ip_country for c in flagged]
                )
            }
            started = time.perf_counter()
            events = workspace_events(ws)
            for name, clusters in baseline_clusters(events).items():
                rows[name] = score(truth, clusters, top_countries(events, clusters))
            timings["baselines"] = time.perf_counter() - started
        finally:
            store.close()
            warehouse.close_all()
    campaigns = {
        name: {
            "accounts": len(c["accounts"]),
            "origin": c["origin_country"],
            **{
                k: c["drawn"][k]
                for k in (
                    "selection",
                    "division",
                    "infrastructure",
                    "devices",
                    "timing",
                    "account_age",
                    "per_account_lookups",
                    "camouflage",
                )
            },
        }
        for name, c in truth["campaigns"].items()
    }
    return {"scores": rows, "seconds": timings, "campaigns": campaigns}


# ---- calibration ------------------------------------------------------------------------------


def _cli(workspace: Path, *args: str) -> None:
    exe = Path(sys.executable).parent / "sybilscope"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    done = subprocess.run(
        [*command, "--workspace", str(workspace), *args], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"sybilscope {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def _score_py(scorer: Path, truth: Path, export: Path) -> dict:
    done = subprocess.run(
        ["python3", str(scorer), "--truth", str(truth), "--export", str(export), "--json"],
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{scorer} printed no JSON:\n{done.stdout[-1000:]}{done.stderr[-1000:]}")


def _write_export(out: Path, clusters: list[set[str]], countries: list[str | None]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "clusters.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cluster_id", "score", "size", "top_ip_country", "status"])
        for i, (members, country) in enumerate(zip(clusters, countries, strict=True)):
            w.writerow([f"b{i}", 1.0, len(members), country or "", "new"])
    with open(out / "members.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cluster_id", "account_id", "member_score"])
        for i, members in enumerate(clusters):
            for a in sorted(members):
                w.writerow([f"b{i}", a, 1.0])


def _calibration_row(res: dict) -> dict:
    return {
        "precision": res.get("precision", 0.0),
        "recall": res.get("recall", 0.0),
        "f1": res.get("f1", 0.0),
        "ari": res.get("ari", 0.0),
        "attribution": res.get("attribution_acc", 0.0),
        "hn_fp": res.get("hard_negative_fp", 0),
        "flagged": res.get("flagged_accounts", 0),
        "clusters": res.get("flagged_clusters", 0),
    }


def evaluate_calibration(folder: Path, log, days: float | None = None) -> dict:
    """Every case of ``folder`` with a truth file (its first ``days`` only, when given), scored by the
    folder's own ``score.py``."""
    scorer = folder / "score.py"
    out: dict = {}
    for case in sorted(p for p in folder.iterdir() if p.is_dir()):
        case_name = case.name
        truth = folder / f"{case_name}.truth.json"
        if not truth.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if days is not None:
                # the first days of a copy (in the temporary folder), and the truth about them
                copy = Path(tmp) / "case"
                copy.mkdir()
                for part in case.iterdir():
                    (copy / part.name).write_bytes(part.read_bytes())
                kept = observe_days(copy, json.loads(truth.read_text()), days)
                case, truth = copy, Path(tmp) / "truth.json"
                truth.write_text(json.dumps(kept))
            ws = Path(tmp) / "ws"
            started = time.perf_counter()
            _cli(ws, "ingest", str(case))
            ingest_s = time.perf_counter() - started
            started = time.perf_counter()
            _cli(ws, "detect")
            detect_s = time.perf_counter() - started
            _cli(ws, "export", "--format", "csv", "--out", str(Path(tmp) / "sybilscope"))
            rows = {
                "sybilscope": _calibration_row(_score_py(scorer, truth, Path(tmp) / "sybilscope"))
            }
            workspace = Workspace.open(ws)
            try:
                events = workspace_events(workspace)
                for name, clusters in baseline_clusters(events).items():
                    export = Path(tmp) / name
                    _write_export(export, clusters, top_countries(events, clusters))
                    rows[name] = _calibration_row(_score_py(scorer, truth, export))
            finally:
                warehouse.close_all()
        out[case_name] = {"scores": rows, "seconds": {"ingest": ingest_s, "detect": detect_s}}
        log(
            f"calibration {case_name}: ingest {ingest_s:.1f} s, detect {detect_s:.1f} s; "
            f"sybilscope F1 {rows['sybilscope']['f1']:.3f}"
        )
    return out


# ---- report -----------------------------------------------------------------------------------


def _row(label: str, method: str, s: dict) -> str:
    return (
        f"{label:>11} {method:14} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} "
        f"{s['ari']:6.3f} {s['attribution']:7.3f} {s['hn_fp']:6}"
    )


HEADER = f"{'':>11} {'method':14} {'P':>6} {'R':>6} {'F1':>6} {'ARI':>6} {'attrib':>7} {'HN FP':>6}"


def summarize(draws: dict[int, dict]) -> dict:
    """Mean and worst case over draws, per method (worst: lowest score, most HN FP)."""
    out = {}
    for method in METHODS:
        rows = [d["scores"][method] for d in draws.values()]
        out[method] = {
            "mean": {m: sum(r[m] for r in rows) / len(rows) for m in METRICS},
            "worst": {m: (max if m == "hn_fp" else min)(r[m] for r in rows) for m in METRICS},
        }
    return out


#: What a campaign draws, by which its recall is broken down (``ingest/simulate/tradecraft.py``).
TRADECRAFT = ("selection", "division", "infrastructure", "devices", "timing", "account_age")


def tradecraft_recall(draws: dict[int, dict], method: str = "sybilscope") -> list[dict]:
    """Recall by what campaigns drew, over every campaign of every draw: which tradecraft gets away.

    The means over draws hide the campaigns a detector misses whenever they
    are drawn (a small leaked-list team on hosting addresses, say, in one
    draw of five). Each row pools the campaigns sharing one value of one
    dimension of :data:`TRADECRAFT`, or one number selection and
    infrastructure together (``selection x infrastructure``): ``campaigns``,
    ``accounts``, ``recall`` (their accounts flagged, over their accounts)
    and ``missed`` (campaigns of which under half were flagged). Sorted by
    dimension, then lowest recall first.

    Examples
    --------
    >>> camp = {"selection": "leaked_list", "division": "pool", "infrastructure": "hosting",
    ...         "devices": "rotation", "timing": "jitter", "account_age": "aged"}
    >>> draws = {1: {"campaigns": {"op1": {**camp, "accounts": 10}, "op2": {**camp, "infrastructure": "vpn_exits",
    ...                                                                     "accounts": 30}},
    ...              "scores": {"sybilscope": {"campaign_recall": {"op1": 0.2, "op2": 1.0}}}}}
    >>> [(r["value"], r["campaigns"], round(r["recall"], 2), r["missed"])
    ...  for r in tradecraft_recall(draws) if r["dimension"] in ("infrastructure", "selection")]
    [('leaked_list', 2, 0.8, 1), ('hosting', 1, 0.2, 1), ('vpn_exits', 1, 1.0, 0)]
    """
    pooled: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])
    for d in draws.values():
        found = d["scores"][method]["campaign_recall"]
        for name, c in d["campaigns"].items():
            keys = [(dim, str(c[dim])) for dim in TRADECRAFT]
            keys.append(("selection x infrastructure", f"{c['selection']} / {c['infrastructure']}"))
            for key in keys:
                row = pooled[key]
                row[0] += 1
                row[1] += c["accounts"]
                row[2] += found[name] * c["accounts"]
                row[3] += found[name] < 0.5
    order = {dim: i for i, dim in enumerate((*TRADECRAFT, "selection x infrastructure"))}
    rows = [{"dimension": dim, "value": value, "campaigns": n, "accounts": int(accounts),
             "recall": flagged / accounts if accounts else float("nan"), "missed": int(missed)}
            for (dim, value), (n, accounts, flagged, missed) in pooled.items()]
    return sorted(rows, key=lambda r: (order[r["dimension"]], r["recall"], r["value"]))


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "graph", "ingest", "app"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + ("+uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def _draw_range(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        lo, hi = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--draws takes A-B (e.g. 1-10), not {text!r}") from None
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"--draws A-B needs 0 <= A <= B, not {text!r}")
    return lo, hi


def _only(text: str) -> tuple[str, list[str]]:
    choice, _, values = text.partition("=")
    wanted = [v.strip() for v in values.split(",") if v.strip()]
    if not choice.strip() or not wanted:
        raise argparse.ArgumentTypeError(f"--only takes CHOICE=VALUE[,VALUE] (e.g. selection=leaked_list), not {text!r}")
    return choice.strip(), wanted


#: draws up to this one are the tuning and report splits, drawn as the protocol has them
LAST_SPLIT_DRAW = max(hi for _, hi in SPLITS.values())


def main() -> None:
    doc = __doc__.split("\n\nFor each draw")[0]
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="report",
        help="draws 1-10 (tuning: choose constants here) or 11-20 (report, the default)",
    )
    parser.add_argument(
        "--draws",
        type=_draw_range,
        default=None,
        metavar="A-B",
        help="run draws A..B instead of the split's",
    )
    parser.add_argument(
        "--quick", action="store_true", help="the split's first two draws only, no calibration"
    )
    parser.add_argument(
        "--camouflage",
        action="store_true",
        help="camouflage every campaign of every draw (intensity 0.5-1 instead of 0-1)",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="simulation scale (1.0: ~200k rows a draw)"
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        default=DEFAULT_CALIBRATION,
        help="folder of independent calibration cases (default: ../shared/calibration)",
    )
    parser.add_argument(
        "--days",
        type=float,
        default=None,
        metavar="N",
        help="observe only each case's first N days (draws and calibration cases): what detection "
        "finds before a whole month of logs is in; campaign accounts with no request by then leave the truth",
    )
    parser.add_argument(
        "--only",
        type=_only,
        action="append",
        default=[],
        metavar="CHOICE=V,...",
        help="development draws only (--draws above 20): draw only campaigns taking these values of this "
        "tradecraft choice (selection, division, infrastructure, devices, timing, account_age); repeatable",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write every number here"
    )
    args = parser.parse_args()
    only = {}
    for choice, values in args.only:
        only.setdefault(choice, []).extend(values)
    if only and (args.draws is None or args.draws[0] <= LAST_SPLIT_DRAW):
        parser.error(f"--only narrows development draws: give --draws A-B with A above {LAST_SPLIT_DRAW}")
    for choice, values in only.items():
        if choice not in CHOICES:
            parser.error(f"--only {choice}: no such tradecraft choice; choose from {', '.join(CHOICES)}")
        if set(values) - set(CHOICES[choice]):
            parser.error(f"--only {choice} takes {', '.join(CHOICES[choice])}, not {', '.join(values)}")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    if args.days is not None and args.days <= 0:
        parser.error("--days must be positive")
    lo, hi = args.draws or SPLITS[args.split]
    if args.quick and not args.draws:
        hi = min(hi, lo + 1)
    label = (
        f"draws {lo}-{hi}"
        + ("" if args.draws else f" ({args.split} split)")
        + (", every campaign camouflaged" if args.camouflage else "")
        + (f", first {args.days:g} days only" if args.days is not None else "")
        + "".join(f", {choice} {'/'.join(values)} only" for choice, values in only.items())
    )
    commit = _git_commit()

    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    log(f"sybilscope at {commit}; {label}, scale {args.scale:g}")
    started = time.perf_counter()
    draws: dict[int, dict] = {}
    for draw in range(lo, hi + 1):
        t0 = time.perf_counter()
        draws[draw] = evaluate_draw(draw, args.scale, args.camouflage, args.days, only or None)
        s = draws[draw]["scores"]["sybilscope"]
        kinds = ", ".join(
            f"{c['accounts']}x{c['selection']}/{c['infrastructure']}/{c['devices']}/{c['timing']}"
            f"/camo {c['camouflage']:.1f} {s['campaign_recall'][name]:.0%}"
            for name, c in draws[draw]["campaigns"].items()
        )
        log(
            f"draw {draw}: {time.perf_counter() - t0:.1f} s "
            f"({', '.join(f'{k} {v:.1f}' for k, v in draws[draw]['seconds'].items())}); "
            f"sybilscope F1 {s['f1']:.3f} ARI {s['ari']:.3f}; campaigns {kinds}"
        )

    calibration: dict = {}
    if args.quick:
        log("calibration skipped (--quick)")
    elif not (args.calibration / "score.py").exists():
        log(f"calibration skipped: no cases with a score.py at {args.calibration}")
    else:
        calibration = evaluate_calibration(args.calibration, log, args.days)
    total = time.perf_counter() - started

    print()
    print(f"Drawn tradecraft, {label}, scale {args.scale:g}, sybilscope at {commit}")
    print(f"{'draw':>11} {HEADER[12:]}")
    for draw, d in draws.items():
        for method in METHODS:
            print(_row(str(draw), method, d["scores"][method]))
    summary = summarize(draws)
    print()
    print(f"{'over draws':>11} {HEADER[12:]}")
    for kind in ("mean", "worst"):
        for method in METHODS:
            print(_row(kind, method, summary[method][kind]))
    losing = [
        draw
        for draw, d in draws.items()
        if any(d["scores"]["sybilscope"]["f1"] <= d["scores"][b]["f1"] for b in BASELINES)
    ]
    verdict = "yes" if not losing else f"no (draws where not: {', '.join(map(str, losing))})"
    print(f"\nsybilscope beats every baseline on every draw (F1): {verdict}")
    by_tradecraft = tradecraft_recall(draws)
    print(f"\nsybilscope's recall by tradecraft, over the {sum(len(d['campaigns']) for d in draws.values())} "
          "campaigns drawn (missed: under half flagged)")
    print(f"{'dimension':>26} {'value':34} {'campaigns':>9} {'accounts':>8} {'recall':>6} {'missed':>6}")
    for r in by_tradecraft:
        print(f"{r['dimension']:>26} {r['value']:34} {r['campaigns']:9} {r['accounts']:8} "
              f"{r['recall']:6.3f} {r['missed']:6}")

    if calibration:
        print(f"\nCalibration cases ({args.calibration}), scored by their own score.py")
        print(f"{'case':>11} {HEADER[12:]}")
        for case, c in calibration.items():
            for method in METHODS:
                print(_row(case, method, c["scores"][method]))
    print(f"\ntotal {total:.0f} s")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "commit": commit,
                    "protocol": "constants chosen on draws 1-10 (--split tuning), reported unchanged on 11-20",
                    "draws_run": [lo, hi],
                    "scale": args.scale,
                    "camouflage": args.camouflage,
                    "days": args.days,
                    "only": only or None,
                    "draws": {str(k): v for k, v in draws.items()},
                    "summary": summary,
                    "beats_every_baseline_on_every_draw": not losing,
                    "draws_not_beaten": losing,
                    "recall_by_tradecraft": by_tradecraft,
                    "calibration": calibration,
                    "seconds": total,
                },
                indent=1,
                default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x),
            )
        )
        print(f"numbers written to {args.json}")


if __name__ == "__main__":
    main()
