"""The warehouse schema: every table ingest keeps in the workspace database, and its columns.

The graph (``graph/schema.py``) says what the case *is*; these tables say
what came in and how: the enriched request events detection reads, the
reference tables as loaded, per-value enrichment caches, the bookkeeping that
makes ingest resumable and the quarantine of refused rows. Names are defined
once here and read by ingest, detection and the UI; ``docs/schema.md``
describes the same tables for people, and a test keeps the two in step.

This module is plain data plus the DDL it implies; it imports nothing of
ingest or the application, which may both import it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Column",
    "Table",
    "TABLES",
    "EVENTS",
    "ensure_tables",
    "EVENTS_TABLE",
    "EVENT_COLUMNS",
    "BATCHES_TABLE",
    "SOURCES_TABLE",
    "IP_LOOKUP_TABLE",
    "UA_LOOKUP_TABLE",
    "ACCOUNTS_TABLE",
    "INTEL_TABLE",
    "LABELS_TABLE",
    "DIRTY_IPS_TABLE",
    "LAKE_FIXES_TABLE",
    "LAKE_REWRITES_TABLE",
    "QUARANTINE_TABLE",
]


@dataclass(frozen=True)
class Column:
    """One column: its name, its SQL declaration (type and any constraint) and what it holds."""

    name: str
    sql: str
    doc: str


@dataclass(frozen=True)
class Table:
    """One warehouse table: its name, why it exists and its columns in order."""

    name: str
    doc: str
    columns: tuple[Column, ...]

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for the table (an existing table is left as it is)."""
        columns = ", ".join(f"{c.name} {c.sql}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({columns})"


def _c(name: str, sql: str, doc: str) -> Column:
    return Column(name, sql, doc)


#: where each reference row came from: its content hash, its ingest batch and its place in the file
_LOADED = (
    _c("row_hash", "VARCHAR", "content hash of the normalized row: an earlier run's copy is recognized"),
    _c("batch_id", "VARCHAR", "the ingest batch (file) that wrote the row"),
    _c("pos", "BIGINT", "its line (CSV, JSON Lines) or row (Parquet) in the batch's file"),
)

EVENTS_TABLE = "events"
BATCHES_TABLE = "ingest_batches"
SOURCES_TABLE = "enrichment_sources"
IP_LOOKUP_TABLE = "ip_lookup"
UA_LOOKUP_TABLE = "ua_lookup"
ACCOUNTS_TABLE = "input_accounts"
INTEL_TABLE = "ip_intel"
LABELS_TABLE = "input_labels"
DIRTY_IPS_TABLE = "ingest_dirty_ips"
LAKE_FIXES_TABLE = "ingest_lake_ip_fixes"
LAKE_REWRITES_TABLE = "ingest_lake_rewrites"
QUARANTINE_TABLE = "quarantine"

EVENTS = Table(EVENTS_TABLE, "The enriched request events: one row a valid input row of `requests`.", (
    _c("event_id", "VARCHAR", "content hash of the normalized row: duplicates collapse"),
    _c("ts", "TIMESTAMPTZ", "when the request was made (UTC)"),
    _c("ip", "VARCHAR", "client IP address, normalized (compressed IPv6)"),
    _c("ip_prefix", "VARCHAR", "its network: /24 (IPv4) or /48 (IPv6)"),
    _c("ip_country", "VARCHAR", "ISO alpha-2 country: the request's own, else enrichment"),
    _c("ip_asn", "INTEGER", "autonomous system number: the request's own, else enrichment"),
    _c("ip_kind", "VARCHAR", "residential, mobile, hosting, vpn, tor, proxy, unknown"),
    _c("endpoint", "VARCHAR", "the API endpoint called"),
    _c("account_id", "VARCHAR", "the calling account (empty when unauthenticated)"),
    _c("device_id", "VARCHAR", "app install id or device fingerprint"),
    _c("user_agent_family", "VARCHAR", "client family from the user agent"),
    _c("app_version", "VARCHAR", "client version from the user agent"),
    _c("os_family", "VARCHAR", "operating system family from the user agent"),
    _c("device_family", "VARCHAR", "hardware family from the user agent (Device nodes carry it)"),
    _c("status", "SMALLINT", "HTTP status of the response"),
    _c("phone_hash", "VARCHAR", "keyed hash of the phone number looked up (never the number)"),
    _c("block_hash", "VARCHAR", "keyed hash of the number without its last 3 digits"),
    _c("block_ordinal", "SMALLINT", "last three digits, 0..999"),
    _c("phone_calling_code", "SMALLINT", "country calling code of the number"),
    _c("phone_region", "VARCHAR", "ISO alpha-2 region of the number"),
    _c("phone_type", "VARCHAR", "mobile, fixed_line, voip, ... (phonenumbers)"),
    _c("matched_account_id", "VARCHAR", "the account the lookup returned, if any"),
    _c("request_id", "VARCHAR", "the platform's request id (phone numbers in it masked)"),
    _c("batch_id", "VARCHAR", "the ingest batch that wrote the row"),
    _c("source_row", "INTEGER", "its line (CSV, JSON Lines) or row (Parquet) in the batch's file"),
))

TABLES: tuple[Table, ...] = (
    EVENTS,
    Table(BATCHES_TABLE, "One row an input file: ingest's bookkeeping, which makes it idempotent and resumable.", (
        _c("batch_id", "VARCHAR PRIMARY KEY", "the table and the first 20 hex digits of the file's sha256"),
        _c("table_name", "VARCHAR NOT NULL", "the contract table the file belongs to"),
        _c("file", "VARCHAR NOT NULL", "the file's path when it was loaded"),
        _c("sha256", "VARCHAR NOT NULL", "the file's sha256"),
        _c("size", "BIGINT", "the file's size in bytes"),
        _c("status", "VARCHAR NOT NULL", "events_loaded, graph_synced or truncated"),
        _c("rows_read", "BIGINT", "rows read from the file"),
        _c("rows_loaded", "BIGINT", "rows loaded"),
        _c("rows_quarantined", "BIGINT", "rows quarantined"),
        _c("rows_existing", "BIGINT", "rows an earlier run had loaded"),
        _c("loaded_at", "TIMESTAMPTZ", "when the file's rows committed"),
        _c("synced_at", "TIMESTAMPTZ", "when the graph took them in (empty until then)"),
        _c("run_id", "VARCHAR", "the ingest run that loaded the file"),
    )),
    Table(SOURCES_TABLE, "The offline data sources enrichment used, as of the latest ingest.", (
        _c("name", "VARCHAR PRIMARY KEY", "the source's package name"),
        _c("version", "VARCHAR", "its version"),
        _c("licence", "VARCHAR", "its licence"),
        _c("used_for", "VARCHAR", "what ingest takes from it"),
        _c("detail", "VARCHAR", "more about the data it carries"),
        _c("recorded_at", "TIMESTAMPTZ", "when the ingest recorded it"),
    )),
    Table(IP_LOOKUP_TABLE, "Enrichment of every distinct address text seen, so each is enriched once.", (
        _c("raw", "VARCHAR PRIMARY KEY", "the address as it came"),
        _c("value", "VARCHAR", "the address normalized (compressed IPv6); empty when invalid"),
        _c("version", "TINYINT", "4 or 6"),
        _c("prefix", "VARCHAR", "its network: /24 (IPv4) or /48 (IPv6)"),
        _c("country", "VARCHAR", "ISO alpha-2 country"),
        _c("country_source", "VARCHAR", "who said so: ip_intel or iptocc"),
        _c("asn", "BIGINT", "autonomous system number"),
        _c("as_org", "VARCHAR", "autonomous system organisation"),
        _c("asn_source", "VARCHAR", "who said so"),
        _c("kind", "VARCHAR", "residential, mobile, hosting, vpn, tor, proxy, unknown"),
        _c("kind_source", "VARCHAR", "who said so: ip_intel or iporigin"),
    )),
    Table(UA_LOOKUP_TABLE, "The parse of every distinct user agent seen (phone numbers in it masked).", (
        _c("raw", "VARCHAR PRIMARY KEY", "the user agent, phone numbers masked"),
        _c("user_agent_family", "VARCHAR", "client family"),
        _c("app_version", "VARCHAR", "client version"),
        _c("os_family", "VARCHAR", "operating system family"),
        _c("device_family", "VARCHAR", "hardware family"),
    )),
    Table(ACCOUNTS_TABLE, "The `accounts` input rows as loaded; Account nodes are aggregated from them.", (
        _c("account_id", "VARCHAR", "the platform's account id"),
        _c("created_at", "TIMESTAMPTZ", "when the account was created"),
        _c("handle", "VARCHAR", "public screen name"),
        _c("phone_country", "VARCHAR", "ISO alpha-2 country of the verified phone"),
        _c("discoverable_by_phone", "BOOLEAN", "findable by phone number"),
        _c("status", "VARCHAR", "platform status"),
        _c("signup_ip", "VARCHAR", "IP address used at sign-up"),
        _c("signup_device_id", "VARCHAR", "device used at sign-up"),
        _c("lang", "VARCHAR", "BCP 47 language tag"),
        _c("followers", "BIGINT", "follower count"),
        _c("extra", "VARCHAR", "unknown input columns as JSON text (none that could hold a phone number)"),
        *_LOADED,
    )),
    Table(INTEL_TABLE, "The `ip_intel` input rows as loaded: what the case says of networks.", (
        _c("network", "VARCHAR", "the network as a normalized CIDR block"),
        _c("country", "VARCHAR", "ISO alpha-2 country"),
        _c("asn", "BIGINT", "autonomous system number"),
        _c("as_org", "VARCHAR", "autonomous system organisation"),
        _c("kind", "VARCHAR", "residential, mobile, hosting, vpn, tor, proxy, unknown"),
        *_LOADED,
    )),
    Table(LABELS_TABLE, "The `labels` input rows as loaded; Label nodes are made from them.", (
        _c("label_id", "VARCHAR", "'lbl-' and the row's content hash"),
        _c("entity", "VARCHAR", "account, ip, device, phone or cluster"),
        _c("entity_id", "VARCHAR", "the entity's graph key (addresses normalized, phone numbers hashed)"),
        _c("kind", "VARCHAR", "always label"),
        _c("value", "VARCHAR", "the label"),
        _c("actor", "VARCHAR", "attributed actor or intrusion set"),
        _c("source", "VARCHAR", "who said so"),
        _c("note", "VARCHAR", "reason or rationale"),
        *_LOADED,
    )),
    Table(DIRTY_IPS_TABLE, "Addresses whose enrichment a new `ip_intel` changed, until the graph takes it in.", (
        _c("ip", "VARCHAR", "the normalized address"),
        _c("batch_id", "VARCHAR", "the ip_intel batch that changed it"),
    )),
    Table(LAKE_FIXES_TABLE, "On the spark engine: re-enrichments a new `ip_intel` made, until the lake's events "
          "take them in (in `seq` order, as the embedded path updates its events).", (
        _c("seq", "BIGINT", "the refresh's place in order (one a loaded ip_intel file)"),
        _c("batch_id", "VARCHAR", "the ip_intel batch that made it"),
        _c("ip", "VARCHAR", "the normalized address"),
        _c("old_country", "VARCHAR", "its enrichment before: an event's country equal to it is replaced"),
        _c("country", "VARCHAR", "its enrichment now"),
        _c("old_asn", "BIGINT", "its ASN before: an event's ASN equal to it is replaced"),
        _c("asn", "BIGINT", "its ASN now"),
        _c("kind", "VARCHAR", "its kind now (always replaced)"),
    )),
    Table(LAKE_REWRITES_TABLE, "On the spark engine: lake files rewritten with the fixes, committed before they "
          "replace the old ones, so a killed rewrite is finished by the next ingest.", (
        _c("old_file", "VARCHAR", "the lake file replaced (path inside the events folder)"),
        _c("staged_file", "VARCHAR", "the rewritten part, where it was written (inside the events folder)"),
        _c("new_file", "VARCHAR", "where it goes (inside the events folder)"),
    )),
    Table(QUARANTINE_TABLE, "Every input row ingest refused, with where and why (phone numbers masked).", (
        _c("batch_id", "VARCHAR NOT NULL", "the ingest batch (file)"),
        _c("table_name", "VARCHAR NOT NULL", "the contract table"),
        _c("file", "VARCHAR NOT NULL", "the file's path"),
        _c("position_name", "VARCHAR NOT NULL", "line (CSV, JSON Lines) or row (Parquet)"),
        _c("position", "BIGINT", "the row's line or row number"),
        _c("column_name", "VARCHAR", "the column at fault, if one"),
        _c("reason", "VARCHAR NOT NULL", "why the row was refused"),
        _c("record", "VARCHAR", "the row as it came, as JSON text: phone fields masked, long fields clipped"),
    )),
)

#: the events table's columns and SQL types, for code that builds or reads event frames
EVENT_COLUMNS: dict[str, str] = {c.name: c.sql for c in EVENTS.columns}

def ensure_tables(cursor) -> None:
    """Create every missing table, and add the events columns a workspace made by an older version lacks."""
    for each in TABLES:
        cursor.execute(each.ddl())
    existing = {r[0] for r in cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [EVENTS_TABLE]
    ).fetchall()}
    for column in EVENTS.columns:
        if column.name not in existing:
            cursor.execute(f"ALTER TABLE {EVENTS_TABLE} ADD COLUMN {column.name} {column.sql}")
