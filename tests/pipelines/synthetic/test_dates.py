"""Synthetic dates: every format parsed back independently of the generator."""

import calendar
import datetime
import re
import time

import pytest

from pipelines.synthetic.dates import FORMATS
from pipelines.synthetic.dates import LOCALES
from pipelines.synthetic.dates import format_names
from pipelines.synthetic.dates import make_dates
from pipelines.synthetic.dates import split_dates

# Month and weekday names written again here (English from `calendar`).
MONTHS = {
    "en": [calendar.month_name[i] for i in range(1, 13)],
    "de": "Januar Februar März April Mai Juni Juli August September Oktober "
    "November Dezember".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre "
    "octubre noviembre diciembre".split(),
}
WEEKDAYS = {
    "en": list(calendar.day_name),
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}
D = r"(?P<d>[1-9]|[12]\d|3[01])"
DD = r"(?P<d>0[1-9]|[12]\d|3[01])"
DTH = D + r"(?P<th>st|nd|rd|th)"
M = r"(?P<m>[1-9]|1[0-2])"
MM = r"(?P<m>0[1-9]|1[0-2])"
Y = r"(?P<y>(19|20)\d\d)"
YY = r"(?P<yy>\d\d)"
NAME = r"(?P<month>[^\W\d]+)"
WKD = r"(?P<weekday>[^\W\d]+)"
# name -> (locale of names, full-match regex)
CHECKS = {
    "en_d_month_y": ("en", rf"{D} {NAME} {Y}"),
    "en_month_d_y": ("en", rf"{NAME} {D}, {Y}"),
    "en_month_dth_y": ("en", rf"{NAME} {DTH}, {Y}"),
    "en_the_dth_of_month_y": ("en", rf"the {DTH} of {NAME} {Y}"),
    "en_dth_month_y": ("en", rf"{DTH} {NAME} {Y}"),
    "en_weekday_d_month_y": ("en", rf"{WKD}, {D} {NAME} {Y}"),
    "en_weekday_month_d_y": ("en", rf"{WKD}, {NAME} {D}, {Y}"),
    "en_lower_weekday_d_month_y": ("en", rf"{WKD}, {D} {NAME} {Y}"),
    "en_d_mon_y": ("en", rf"{D} {NAME} {Y}"),
    "en_mon_d_y": ("en", rf"{NAME} {D}, {Y}"),
    "en_y_mon_d": ("en", rf"{Y} {NAME} {D}"),
    "en_dd_MON_y": ("en", rf"{DD} {NAME} {Y}"),
    "en_wkd_d_mon_yy": ("en", rf"{WKD} {D} {NAME} {YY}"),
    "en_month_dth_apostrophe_yy": ("en", rf"{NAME} {DTH} '{YY}"),
    "us_m_d_yy": (None, rf"{M}/{D}/{YY}"),
    "us_mm_dd_yyyy": (None, rf"{MM}/{DD}/{Y}"),
    "dot_dd_mm_yyyy": (None, rf"{DD}\.{MM}\.{Y}"),
    "dot_d_m_yy": (None, rf"{D}\.{M}\.{YY}"),
    "dash_y_m_d": (None, rf"{Y}-{M}-{D}"),
    "slash_yyyy_mm_dd": (None, rf"{Y}/{MM}/{DD}"),
    "compact_yyyymmdd": (None, rf"{Y}{MM}{DD}"),
    "de_d_month_y": ("de", rf"{D}\. {NAME} {Y}"),
    "de_weekday_d_month_y": ("de", rf"{WKD}, {D}\. {NAME} {Y}"),
    "de_am_d_month_y": ("de", rf"am {D}\. {NAME} {Y}"),
    "es_d_de_month_de_y": ("es", rf"{D} de {NAME} de {Y}"),
    "es_weekday_d_de_month_de_y": ("es", rf"{WKD}, {D} de {NAME} de {Y}"),
    "es_d_mon_y": ("es", rf"{D} {NAME}\. {Y}"),
}


def _lookup(names, word):
    """Index of a full or 3-letter name, any case."""
    word = word.lower()
    hits = [
        i for i, n in enumerate(names) if word in (n.lower(), n[:3].lower())
    ]
    assert len(hits) == 1, word
    return hits[0]


def _parse(name, source):
    """The date a source means, by the format's rules, or an AssertionError."""
    locale, pattern = CHECKS[name]
    match = re.fullmatch(pattern, source)
    assert match, (name, source)
    g = match.groupdict()
    if g.get("yy") is not None:
        year = int(g["yy"]) + (1900 if int(g["yy"]) >= 50 else 2000)
    else:
        year = int(g["y"])
    if g.get("month") is not None:
        month = _lookup(MONTHS[locale], g["month"]) + 1
    else:
        month = int(g["m"])
    date = datetime.date(year, month, int(g["d"]))
    if g.get("th") is not None:
        day = date.day
        teen = 10 <= day % 100 <= 20
        suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(day % 10)
        assert g["th"] == (suffix or "th"), source
    if g.get("weekday") is not None:
        assert _lookup(WEEKDAYS[locale], g["weekday"]) == date.weekday()
    return date


def test_every_format_has_an_independent_check():
    assert set(CHECKS) == set(FORMATS)
    assert 20 <= len(format_names(("en",))) <= 25
    assert set(format_names(LOCALES)) == set(FORMATS)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_parses_back_to_its_target(name):
    sources, targets = make_dates(400, seed=11, formats=[name])
    for source, target in zip(sources, targets):
        date = datetime.date.fromisoformat(target)
        assert 1950 <= date.year <= 2049
        assert _parse(name, source) == date, (source, target)


def test_deterministic_per_seed():
    a = make_dates(300, seed=5, locales=LOCALES)
    assert a == make_dates(300, seed=5, locales=LOCALES)
    assert a != make_dates(300, seed=6, locales=LOCALES)
    assert len(a[0]) == len(a[1]) == 300


def test_mixture_covers_all_formats_with_one_meaning_per_source():
    sources, targets = make_dates(20000, seed=0, locales=LOCALES)
    seen, meaning = set(), {}
    for source, target in zip(sources, targets):
        assert meaning.setdefault(source, target) == target, source
        names = [n for n, (_, p) in CHECKS.items() if re.fullmatch(p, source)]
        assert names, source
        # Every format that matches the text reads the same date.
        assert {_parse(n, source).isoformat() for n in names} == {target}
        seen.update(names)
    assert seen == set(FORMATS)
    years = [int(t[:4]) for t in targets]
    assert (min(years), max(years)) == (1950, 2049)
    assert any(t.endswith("-02-29") for t in targets)


def test_english_only_by_default_and_bad_arguments():
    sources, _ = make_dates(2000, seed=1)
    assert not any("März" in s or " de " in s for s in sources)
    with pytest.raises(ValueError, match="locales=\\('fr',\\)"):
        make_dates(3, seed=0, locales=("fr",))
    with pytest.raises(ValueError, match="formats=\\['nope'\\]"):
        make_dates(3, seed=0, formats=["nope"])


def test_splits_are_disjoint_by_date_and_deterministic():
    train, val, test = split_dates(5000, 300, 200, seed=4, locales=LOCALES)
    assert [len(s[0]) for s in (train, val, test)] == [5000, 300, 200]
    dates = [set(split[1]) for split in (train, val, test)]
    assert not (
        dates[0] & dates[1] or dates[0] & dates[2] or dates[1] & dates[2]
    )
    texts = [set(split[0]) for split in (train, val, test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2])
    # Evaluation dates are all different when they fit.
    assert len(dates[1]) == 300 and len(dates[2]) == 200
    again = split_dates(5000, 300, 200, seed=4, locales=LOCALES)
    assert again == (train, val, test)


def test_hundred_thousand_pairs_in_a_few_seconds():
    start = time.perf_counter()
    sources, _ = make_dates(100_000, seed=0, locales=LOCALES)
    assert len(sources) == 100_000
    assert time.perf_counter() - start < 10.0
