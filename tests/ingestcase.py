"""Small hand-made case folders for the ingest tests, in every contract format.

The rows are few and known, so a test can say exactly which line must be
quarantined and why. Phone numbers are valid numbers of real mobile ranges
(Iran +98 912, Malaysia +60 12, US +1 201) that belong to nobody here.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from app.cli import main
from graph import warehouse
from graph.schema import ACCOUNT, DEVICE, IP, PHONE
from ingest.aggregate import EDGES

REQUEST_COLUMNS = [
    "ts", "ip", "endpoint", "account_id", "device_id", "user_agent", "status", "phone",
    "matched_account_id", "request_id",
]

#: raw numbers as they appear in the input (with and without the leading +)
PHONES = ["+989121234567", "989121234568", "+60123456789", "+12015550123", "+989121234999"]

IPHONE_UA = "Twitter-iPhone/8.5 iOS/13.3 (Apple;iPhone11,2;;;;;1)"
ANDROID_UA = "TwitterAndroid/8.20.0-release.00 (18200000-r-0) SM-G960F/9 (samsung;SM-G960F;samsung;x;0;;1;2016)"


def request_rows() -> list[dict]:
    """Nine valid request rows: lookups from two accounts, one match, plain API calls."""
    return [
        {"ts": "2019-12-24T06:01:02.123Z", "ip": "5.160.10.1", "endpoint": "contacts/lookup",
         "account_id": "acc_a", "device_id": "dev_1", "user_agent": IPHONE_UA, "status": "200",
         "phone": PHONES[0], "matched_account_id": "victim_1", "request_id": "r1"},
        {"ts": "2019-12-24T06:01:03Z", "ip": "5.160.10.1", "endpoint": "contacts/lookup",
         "account_id": "acc_a", "device_id": "dev_1", "user_agent": IPHONE_UA, "status": "200",
         "phone": PHONES[1], "matched_account_id": "", "request_id": "r1"},
        {"ts": "2019-12-24T09:31:04+03:30", "ip": "5.160.10.1", "endpoint": "contacts/lookup",
         "account_id": "acc_a", "device_id": "dev_1", "user_agent": IPHONE_UA, "status": "200",
         "phone": PHONES[4], "matched_account_id": "", "request_id": "r2"},
        {"ts": "1577167265000", "ip": "175.136.1.9", "endpoint": "contacts/lookup",
         "account_id": "acc_b", "device_id": "dev_2", "user_agent": ANDROID_UA, "status": "200",
         "phone": PHONES[2], "matched_account_id": "", "request_id": "r3"},
        {"ts": "2019-12-24 06:01:06", "ip": "175.136.1.9", "endpoint": "contacts/lookup",
         "account_id": "acc_b", "device_id": "dev_2", "user_agent": ANDROID_UA, "status": "200",
         "phone": PHONES[3], "matched_account_id": "victim_2", "request_id": "r3"},
        {"ts": "2019-12-24T06:01:07Z", "ip": "175.136.1.9", "endpoint": "contacts/lookup",
         "account_id": "acc_b", "device_id": "dev_2", "user_agent": ANDROID_UA, "status": "200",
         "phone": PHONES[0], "matched_account_id": "victim_1", "request_id": "r4"},
        {"ts": "2019-12-24T06:02:00Z", "ip": "2001:db8:abcd:12::7", "endpoint": "users/show",
         "account_id": "acc_c", "device_id": "dev_3", "user_agent": "curl/7.64.1", "status": "404",
         "phone": "", "matched_account_id": "", "request_id": ""},
        {"ts": "2019-12-24T06:03:00Z", "ip": "8.8.8.8", "endpoint": "auth/login",
         "account_id": "", "device_id": "dev_3", "user_agent": "", "status": "",
         "phone": "", "matched_account_id": "", "request_id": ""},
        {"ts": "2019-12-24T06:04:00Z", "ip": "5.160.10.1", "endpoint": "users/show",
         "account_id": "acc_a", "device_id": "dev_1", "user_agent": IPHONE_UA, "status": "200",
         "phone": "", "matched_account_id": "", "request_id": ""},
    ]


def csv_bytes(rows: list[dict], columns: list[str] | None = None) -> bytes:
    columns = columns or list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def jsonl_bytes(rows: list[dict]) -> bytes:
    """JSON Lines with empty fields left out and numbers as numbers, as real exporters do."""
    lines = []
    for row in rows:
        record = {}
        for key, value in row.items():
            if value == "":
                continue
            record[key] = int(value) if key in ("status",) or (key == "ts" and value.isdigit()) else value
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_table(folder: Path, stem: str, rows: list[dict], fmt: str) -> Path:
    """Write rows as ``stem`` in ``fmt`` (csv, csv.gz, jsonl, jsonl.gz, parquet); returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.{fmt}"
    if fmt in ("csv", "csv.gz"):
        data = csv_bytes(rows)
    elif fmt in ("jsonl", "jsonl.gz"):
        data = jsonl_bytes(rows)
    elif fmt == "parquet":
        columns = list(rows[0])
        table = pa.table({c: [r[c] or None for r in rows] for c in columns})
        pq.write_table(table, path)
        return path
    else:
        raise ValueError(fmt)
    path.write_bytes(gzip.compress(data, mtime=0) if fmt.endswith(".gz") else data)
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``sybilscope`` in this process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout, sys.stderr = old
        warehouse.close_all()
    return code, out.getvalue(), err.getvalue()


def run_cli_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``sybilscope`` in a child process (for kills and exit codes of a real run)."""
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


#: one pseudonymization key for every test workspace, so that two workspaces
#: fed the same input hold the same hashes and can be compared
TEST_SECRET = "5e" * 32


def seed_secret(workspace: Path) -> None:
    """Give a workspace (created if needed) the shared test key before its first ingest."""
    workspace.mkdir(parents=True, exist_ok=True)
    key = workspace / "secret.key"
    if not key.exists():
        key.write_text(TEST_SECRET + "\n", encoding="ascii")
        key.chmod(0o600)


def ingest_json(workspace: Path, *args: str) -> dict:
    """``sybilscope ingest --json`` and its parsed summary (asserting exit 0)."""
    seed_secret(workspace)
    code, out, err = run_cli("--workspace", str(workspace), "ingest", *args, "--json")
    assert code == 0, err
    return json.loads(out)


_SNAPSHOT_LABELS = (ACCOUNT, IP, DEVICE, PHONE)
_SNAPSHOT_EDGES = tuple(EDGES)  # every request relationship type


def graph_snapshot(store) -> dict[str, list[str]]:
    """Every request node, relationship and label of a store as sorted JSON text, to compare two stores."""
    out = {}
    for label in _SNAPSHOT_LABELS:
        out[label] = sorted(json.dumps(n, sort_keys=True, default=str)
                            for batch in store.iter_nodes(label) for n in batch)
    for rel in _SNAPSHOT_EDGES:
        out[rel] = sorted(json.dumps(e, sort_keys=True, default=str)
                          for batch in store.iter_edges(rel) for e in batch)
    out["labels"] = sorted(
        json.dumps({k: v for k, v in label.items() if k != "created_at"}, sort_keys=True, default=str)
        for label in store.labels()
    )
    return out
