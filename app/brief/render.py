"""Turn a briefing's facts into HTML, PDF or Markdown through editable Jinja2 templates.

The templates are files (``app/brief/templates/briefing.html.j2`` and
``briefing.md.j2``) so an organisation can restyle or reword its briefings
without touching code: copy one, edit it, pass ``--template``. A custom
template's folder is searched first, then the defaults, so a custom template
may ``{% extends %}`` or ``{% include %}`` the stock ones. The HTML template is
autoescaped; in the Markdown one every printed value is escaped for Markdown
(:mod:`app.brief.markdown_escape`), and ``| code`` prints a code span.

The PDF is the HTML printed by WeasyPrint (BSD licensed; it needs Pango from
the system). Its ``@page`` rules put the TLP marking in the header and
footer of every page.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2

from app.brief.build import CONFIDENCE_WORDS, Briefing
from app.brief.markdown_escape import code, finalize
from app.brief.words import counted, status_words
from app.export.files import replacing
from app.present.countries import country_name
from app.present.quantities import utc_label
from graph.errors import SybilscopeError

__all__ = ["FORMATS", "TEMPLATES_DIR", "format_for", "output_path", "render_text", "write_briefing", "pdf_to_png", "pdf_text"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
FORMATS = ("html", "pdf", "md")
_SUFFIXES = {".html": "html", ".htm": "html", ".pdf": "pdf", ".md": "md", ".markdown": "md"}
_DEFAULT_TEMPLATE = {"html": "briefing.html.j2", "pdf": "briefing.html.j2", "md": "briefing.md.j2"}

# FIRST TLP 2.0: the marking's colour (on black) and what it allows.
TLP_COLOURS = {
    "TLP:RED": "#FF2B2B", "TLP:AMBER+STRICT": "#FFC000", "TLP:AMBER": "#FFC000",
    "TLP:GREEN": "#33FF00", "TLP:CLEAR": "#FFFFFF",
}
TLP_RULES = {
    "TLP:RED": "For the eyes and ears of individual recipients only, no further disclosure.",
    "TLP:AMBER+STRICT": "Limited disclosure, restricted to the recipient's organisation only.",
    "TLP:AMBER": "Limited disclosure: recipients may share it within their organisation and its clients on a "
                 "need-to-know basis.",
    "TLP:GREEN": "Limited disclosure: recipients may share it within their community, not publicly.",
    "TLP:CLEAR": "Disclosure is not limited.",
}


def format_for(out: Path, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file's suffix."""
    if fmt:
        if fmt not in FORMATS:
            raise SybilscopeError(f"unknown briefing format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    found = _SUFFIXES.get(out.suffix.lower())
    if found is None:
        raise SybilscopeError(
            f"cannot tell the format of {out.name}: end it in .html, .pdf or .md, or pass --format"
        )
    return found


def _num(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _pct(value: object) -> str:
    return "–" if value is None else f"{float(value):.0%}" if float(value) >= 0.1 else f"{float(value):.1%}"


def _when(value: object) -> str:
    return value.strftime("%d %b %Y %H:%M UTC") if isinstance(value, datetime) else "–"


def _day(value: object) -> str:
    return value.strftime("%d %B %Y").lstrip("0") if isinstance(value, datetime) else "–"


def _date(value: object) -> str:
    return value.strftime("%d %b %Y") if isinstance(value, datetime) else "–"


def _hour(value: int) -> str:
    return f"{int(value):02d}h"


def _environment(template: Path | None, autoescape: bool) -> tuple[jinja2.Environment, str | None]:
    search = [str(TEMPLATES_DIR)]
    name = None
    if template is not None:
        template = Path(template).expanduser().resolve()
        if not template.is_file():
            raise SybilscopeError(f"briefing template {template} does not exist")
        search.insert(0, str(template.parent))
        name = template.name
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=autoescape,
        # Markdown has no autoescape of its own: every printed value goes through its escaping
        finalize=None if autoescape else finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=_num, pct=_pct, when=_when, day=_day, date=_date, country=country_name, hour=_hour, utc=utc_label,
                       counted=counted, status=status_words)
    if not autoescape:
        env.filters["code"] = code
    return env, name


def render_text(briefing: Briefing, fmt: str, template: Path | None = None) -> str:
    """The briefing as HTML (for ``html`` and ``pdf``) or Markdown (``md``)."""
    if not briefing.figures:
        # matplotlib takes half a second to import: only drawing the figures loads it
        from app.brief.figures import all_figures

        briefing.figures = all_figures(briefing)
    env, name = _environment(template, autoescape=fmt != "md")
    try:
        page = env.get_template(name or _DEFAULT_TEMPLATE[fmt])
        return page.render(
            b=briefing,
            figures=briefing.figures,
            tlp=briefing.tlp,
            tlp_colour=TLP_COLOURS[briefing.tlp],
            tlp_rule=TLP_RULES[briefing.tlp],
            confidence_words=CONFIDENCE_WORDS,
        )
    except jinja2.TemplateError as exc:
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise SybilscopeError(f"briefing template {name or _DEFAULT_TEMPLATE[fmt]}{where}: {exc}") from exc


def write_briefing(briefing: Briefing, out: str | Path, fmt: str | None = None, template: Path | None = None) -> Path:
    """Write the briefing to ``out`` (format from ``fmt`` or the suffix); returns the path.

    A symbolic link at ``out`` is replaced by the briefing, its target left alone.
    """
    out = output_path(out)
    fmt = format_for(out, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_text(briefing, fmt, template)
    if fmt == "pdf":
        try:
            import weasyprint
        except OSError as exc:  # WeasyPrint loads Pango when imported
            raise SybilscopeError(
                f"PDF output needs Pango from the system ({exc}): install libpango-1.0-0 and "
                "libpangoft2-1.0-0 (Debian) or brief to .html"
            ) from exc
        with replacing(out, "wb") as handle:
            weasyprint.HTML(string=text, base_url=str(TEMPLATES_DIR)).write_pdf(handle)
    else:
        with replacing(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    return out


def output_path(out: str | Path) -> Path:
    """``out`` made absolute with its folder resolved but not its own name, which may be a link to replace."""
    out = Path(out).expanduser()
    return out.parent.resolve() / out.name


def pdf_to_png(pdf: Path, out_dir: Path, *, dpi: int = 80, prefix: str | None = None) -> list[Path]:
    """Render every page of ``pdf`` to ``out_dir/<prefix>-N.png`` with PDFium (pypdfium2: Apache-2.0/BSD-3-Clause).

    Pages are numbered from 1, zero-padded to the page count's width, as
    poppler's ``pdftoppm`` names them, so older page sets are replaced in place.
    """
    import pypdfium2

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = prefix or pdf.stem
    for old in out_dir.glob(f"{stem}-*.png"):
        old.unlink()
    document = pypdfium2.PdfDocument(str(pdf))
    try:
        width = len(str(len(document)))
        pages = []
        for number, page in enumerate(document, start=1):
            path = out_dir / f"{stem}-{number:0{width}d}.png"
            page.render(scale=dpi / 72).to_pil().save(path, optimize=True)
            pages.append(path)
        return pages
    finally:
        document.close()


def pdf_text(pdf: Path) -> list[str]:
    """The text of each page of ``pdf``, as a reader would copy it (for checks on what a PDF says)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()
