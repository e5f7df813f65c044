"""Exports and briefings of hostile data: no formula, markup or forbidden XML character gets through (#13)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import zipfile
from html.parser import HTMLParser
from xml.etree import ElementTree

import flask
import markdown
import networkx as nx
import pytest
from hostilecase import (
    ACTOR,
    ATTR_LIST,
    FORMULA,
    HOSTILE_ACCOUNT,
    IMG,
    MD_IMAGE,
    MD_LINK,
    NUMERIC_ACCOUNT,
    SCRIPT,
    XML_ACCOUNT,
    build_hostile,
)
from markdown_it import MarkdownIt
from stix2validator import ValidationOptions, validate_string

from app.brief import brief
from app.brief.markdown_escape import escape
from app.export import Filters, export
from app.export.formulas import TRIGGERS, neutralize, restore
from app.export.network import xml_text
from app.web import downloads
from app.web.state import WebState, install
from graph import warehouse
from graph.store import open_store


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build_hostile(tmp_path_factory.mktemp("hostile") / "workspace")


@pytest.fixture
def opened(hostile):
    workspace = hostile.workspace()
    store = open_store(workspace)
    yield workspace, store
    store.close()
    warehouse.close_all()


def _cells(text: str) -> list[tuple[str, str]]:
    """(column, cell) of every data cell of a CSV text."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [(column, cell) for row in reader for column, cell in row.items()]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.strip() == cell and cell.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def _assert_no_formula(name: str, text: str) -> None:
    for column, cell in _cells(text):
        assert not (cell[:1] in TRIGGERS and not _is_number(cell)), f"{name} {column}: {cell!r} is a formula"


# -- 3. CSV formulas -----------------------------------------------------------------------------


def test_neutralizing_is_undone_exactly_and_leaves_no_formula():
    """Every string over the characters that matter (up to 4 long) round-trips, and none starts a formula."""
    alphabet = [*TRIGGERS, "'", "a", "5", ".", "e"]
    for size in range(5):
        for chars in itertools.product(alphabet, repeat=size):
            value = "".join(chars)
            cell = neutralize(value)
            assert restore(cell) == value
            assert cell == value or cell == "'" + value
            if cell[:1] in TRIGGERS:
                assert _is_number(cell), repr(value)
    assert neutralize("-0.5") == "-0.5" and neutralize("+1e-05") == "+1e-05"  # plain numbers stay numbers
    assert neutralize("-0.5+A1") == "'-0.5+A1"


def test_csv_export_neutralizes_every_formula_and_says_so(opened, tmp_path):
    workspace, store = opened
    result = export(workspace, store, "csv", tmp_path / "out", user="tester")
    for path in result.files:
        if path.suffix == ".csv":
            _assert_no_formula(path.name, path.read_text(encoding="utf-8"))
    members = list(csv.DictReader((tmp_path / "out" / "members.csv").open(encoding="utf-8", newline="")))
    ids = {m["account_id"] for m in members}
    assert "'" + HOSTILE_ACCOUNT in ids and NUMERIC_ACCOUNT in ids  # a negative number is left alone
    assert {restore(i) for i in ids} >= {HOSTILE_ACCOUNT, NUMERIC_ACCOUNT, "acc_a"}
    accounts = list(csv.DictReader((tmp_path / "out" / "accounts.csv").open(encoding="utf-8", newline="")))
    assert {restore(a["handle"]) for a in accounts} >= {FORMULA}
    guard = result.manifest["value_encoding"]["csv_formulas"]
    assert guard["prefix"] == "'" and set(guard["triggers"]) == set(TRIGGERS)
    assert guard["cells"]["members"] == 1 and guard["cells"]["accounts"] >= 3
    assert guard["cells"]["judgements"] >= 3 and guard["cells"]["ips"] >= 1 and guard["cells"]["edges"] >= 1
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["value_encoding"] == result.manifest["value_encoding"]


def test_web_export_zip_neutralizes_formulas(opened, hostile):
    workspace, store = opened
    server = flask.Flask(__name__)
    install(server, WebState(workspace, store))
    with server.app_context():
        _, data = downloads.export_zip("csv", Filters(cluster_ids=(hostile.cluster,)), "tester")
    archive = zipfile.ZipFile(io.BytesIO(data))
    tables = [n for n in archive.namelist() if n.endswith(".csv")]
    assert {"members.csv", "accounts.csv", "judgements.csv"} <= set(tables)
    for name in tables:
        _assert_no_formula(name, archive.read(name).decode("utf-8"))
    assert "csv_formulas" in json.loads(archive.read("manifest.json"))["value_encoding"]


def test_other_formats_keep_values_as_they_are(opened, tmp_path):
    """The prefix is a CSV convention: typed formats carry the account id unchanged."""
    workspace, store = opened
    out = export(workspace, store, "jsonl", tmp_path / "jsonl", user="tester").out_dir
    rows = [json.loads(line) for line in (out / "members.jsonl").read_text(encoding="utf-8").splitlines()]
    assert HOSTILE_ACCOUNT in {r["account_id"] for r in rows}


# -- 4. Markup in briefings ----------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every element and attribute of an HTML text, and its visible text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _rendered(markdown_text: str) -> dict[str, str]:
    """The Markdown as HTML by two renderers: CommonMark with GFM tables, and Python-Markdown with
    the extensions that make attribute injection possible."""
    commonmark = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return {
        "commonmark": commonmark.render(markdown_text),
        "python-markdown": markdown.markdown(markdown_text, extensions=["tables", "attr_list", "fenced_code"]),
    }


def _assert_inert(name: str, html: str) -> None:
    page = _Elements(html)
    allowed = {"p", "h1", "h2", "h3", "strong", "em", "code", "pre", "ol", "ul", "li", "table", "thead",
               "tbody", "tr", "th", "td", "img", "br", "hr", "del", "s"}
    for tag, attrs in page.tags:
        assert tag in allowed, f"{name}: <{tag} {attrs}> came from the data"
        assert not [a for a in attrs if a.startswith("on")], f"{name}: <{tag} {attrs}> has a handler"
        if tag == "img":
            assert attrs.get("src", "").startswith("data:image/png;base64,"), f"{name}: <img {attrs}>"
        assert set(attrs) <= {"src", "alt", "style", "align", "title"}, f"{name}: <{tag} {attrs}>"
    text = "".join(page.text)
    for shown in ("<script>alert('as_org')</script>", '<img src=x onerror="alert(1)">', "[click me](javascript:alert(2))"):
        assert shown in text, f"{name}: {shown!r} is not shown as text"


@pytest.mark.parametrize("value", [
    SCRIPT, IMG, MD_LINK, MD_IMAGE, ATTR_LIST, FORMULA, "# heading", "1. item", "---", "===", "> quote",
    "*a* _b_ `c` ~~d~~ **e**", "a | b", "&amp; &lt;b&gt;", "back\\slash \\*", "<http://evil.invalid>", "two\nlines",
])
def test_an_escaped_value_renders_as_exactly_its_text(value):
    """In a list item and in a table cell, under both renderers, the text shown is the value itself."""
    expected = value.replace("\n", " ")
    for context, tag in ((f"- {escape(value)}\n", "li"), (f"| h |\n|---|\n| {escape(value)} |\n", "td")):
        for renderer, html in _rendered(context).items():
            page = _Elements(html)
            assert [t for t, _ in page.tags] == (["ul", "li"] if tag == "li" else
                                                 ["table", "thead", "tr", "th", "tbody", "tr", "td"]), (renderer, html)
            shown = "".join(page.text).strip().removeprefix("h").strip()
            assert shown == expected, (renderer, context, html)


def test_markdown_briefing_shows_hostile_text_as_text(opened, hostile, tmp_path):
    workspace, store = opened
    path = brief(workspace, store, [hostile.cluster], tmp_path / "b.md", user="tester")
    for renderer, html in _rendered(path.read_text(encoding="utf-8")).items():
        _assert_inert(renderer, html)


def test_html_briefing_escapes_hostile_text(opened, hostile, tmp_path):
    workspace, store = opened
    path = brief(workspace, store, [hostile.cluster], tmp_path / "b.html", user="tester")
    page = _Elements(path.read_text(encoding="utf-8"))
    assert "script" not in {tag for tag, _ in page.tags}
    assert not [(t, a) for t, a in page.tags for k in a if k.startswith("on")]
    assert "<script>alert('as_org')</script>" in "".join(page.text)


# -- 5. Characters XML 1.0 forbids ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_exports_stay_xml_with_forbidden_characters(opened, hostile, tmp_path, fmt):
    workspace, store = opened
    result = export(workspace, store, fmt, tmp_path / fmt, user="tester")
    path = result.out_dir / f"network.{fmt}"
    ElementTree.parse(path)  # expat refuses any character XML 1.0 forbids
    graph = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    shown = xml_text(XML_ACCOUNT)
    assert shown == "acct" + "x\u2400y\u2407z\u241b\ufffd"  # control pictures; U+FFFF -> U+FFFD
    assert f"account:{shown}" in graph.nodes
    cluster = graph.nodes[f"cluster:{hostile.cluster}"]
    assert cluster["actor"] == xml_text(ACTOR) and "\x00" not in cluster["actor"]
    replaced = result.manifest["value_encoding"]["xml_characters"]
    assert replaced["values"] >= 4 and "U+2400" in replaced["rule"]


def test_json_exports_carry_forbidden_characters_exactly(opened, tmp_path):
    """JSON escapes every character, so JSON Lines and STIX keep the values unchanged and still parse."""
    workspace, store = opened
    out = export(workspace, store, "jsonl", tmp_path / "jsonl", user="tester").out_dir
    rows = [json.loads(line) for line in (out / "members.jsonl").read_text(encoding="utf-8").splitlines()]
    assert XML_ACCOUNT in {r["account_id"] for r in rows}
    out = export(workspace, store, "stix", tmp_path / "stix", user="tester").out_dir
    text = (out / "bundle.json").read_text(encoding="utf-8")
    assert validate_string(text, ValidationOptions(version="2.1")).is_valid
    assert ACTOR.strip() in {o.get("name") for o in json.loads(text)["objects"]}


# -- 13. Symlinks in the output folder -----------------------------------------------------------

_WRITES = {
    "csv": ["clusters.csv", "members.csv", "cluster_details.csv", "judgements.csv", "accounts.csv", "ips.csv",
            "devices.csv", "edges.csv"],
    "jsonl": ["members.jsonl", "accounts.jsonl"],
    "parquet": ["members.parquet", "accounts.parquet"],
    "graphml": ["network.graphml"],
    "gexf": ["network.gexf"],
    "stix": ["bundle.json"],
}


@pytest.mark.parametrize("fmt", sorted(_WRITES))
def test_export_replaces_a_symlink_instead_of_writing_through_it(opened, tmp_path, fmt):
    workspace, store = opened
    out = tmp_path / "out"
    out.mkdir()
    victims = {}
    for name in [*_WRITES[fmt], "manifest.json"]:
        victim = tmp_path / f"victim-{name}"
        victim.write_text("precious\n", encoding="utf-8")
        (out / name).symlink_to(victim)
        victims[name] = victim
    result = export(workspace, store, fmt, out, user="tester")
    for name, victim in victims.items():
        assert victim.read_text(encoding="utf-8") == "precious\n", f"{fmt} export wrote through {name}"
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0
    assert {p.name for p in result.files} >= set(victims)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


def test_briefing_replaces_a_symlink_instead_of_writing_through_it(opened, hostile, tmp_path):
    workspace, store = opened
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    for suffix in ("md", "html"):
        out = tmp_path / f"briefing.{suffix}"
        out.symlink_to(victim)
        written = brief(workspace, store, [hostile.cluster], out, user="tester")
        assert victim.read_text(encoding="utf-8") == "precious\n"
        assert written == out and not out.is_symlink() and "C-hostile" in out.read_text(encoding="utf-8")
