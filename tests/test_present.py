"""The words detection's findings are shown in, shared by the web UI and the briefings."""

import subprocess
import sys

from app.present.countries import country_name


def test_country_names_are_short_and_tell_the_koreas_apart():
    assert [country_name(c) for c in ("IR", "ru", "KP", "KR", "FR")] == [
        "Iran", "Russia", "North Korea", "South Korea", "France"]
    assert country_name("zz") == "ZZ" and country_name("") == "unknown" and country_name(None) == "unknown"


def test_briefings_are_written_without_the_web_package():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, app.brief; print(sorted(m for m in sys.modules if m.startswith('app.web')))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert loaded == "[]"
