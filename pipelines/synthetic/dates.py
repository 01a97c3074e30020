"""Synthetic translation task: human-written dates -> ISO `YYYY-MM-DD`.

The translate app's embedded default. Sources are dates written in one of
about 20 English formats (and a few German and Spanish ones), targets the
same date in ISO 8601:

```
tuesday, 3 march 1998      -> 1998-03-03
the 3rd of March 1998      -> 1998-03-03
3/3/98                     -> 1998-03-03
03.03.1998                 -> 1998-03-03
Dienstag, 3. März 1998     -> 1998-03-03   (locale "de")
```

Solving it needs attention: the year, month and day sit in different
places per format, and the month may be a name. Every source has one
meaning: a slash with the year last is month first (US: `3/15/98`), a dot
is day first (`15.3.98`), the year first is always year-month-day, and
two-digit years `50..99` are 19xx, `00..49` 20xx (years 1950-2049 only).
Dates are valid calendar days drawn uniformly, weekday names are right,
and everything is deterministic for a seed; 100k pairs take about a
second.
"""

import datetime
from collections.abc import Sequence

import numpy as np

FIRST_YEAR = 1950
LAST_YEAR = 2049
_FIRST_DAY = datetime.date(FIRST_YEAR, 1, 1).toordinal()
NUM_DAYS = datetime.date(LAST_YEAR, 12, 31).toordinal() - _FIRST_DAY + 1

_MONTHS = {
    "en": (
        "January February March April May June July August September "
        "October November December"
    ).split(),
    "de": (
        "Januar Februar März April Mai Juni Juli August September Oktober "
        "November Dezember"
    ).split(),
    "es": (
        "enero febrero marzo abril mayo junio julio agosto septiembre "
        "octubre noviembre diciembre"
    ).split(),
}
_WEEKDAYS = {  # Monday first, as `datetime.date.weekday()`.
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}
LOCALES = tuple(_MONTHS)


def _th(day: int) -> str:
    """English ordinal: 1st 2nd 3rd 4th ... 11th 12th 13th ... 21st."""
    if day in (11, 12, 13):
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


# name -> (locale, or None for numeric formats; `str.format` template).
# Fields: d 3, dd 03, dth 3rd, m 3, mm 03, y 1998, yy 98, Month March,
# month march, Mon Mar, mon mar, MON MAR, Weekday Tuesday, weekday
# tuesday, Wkd Tue; names in the format's locale.
FORMATS = {
    "en_d_month_y": ("en", "{d} {Month} {y}"),
    "en_month_d_y": ("en", "{Month} {d}, {y}"),
    "en_month_dth_y": ("en", "{Month} {dth}, {y}"),
    "en_the_dth_of_month_y": ("en", "the {dth} of {Month} {y}"),
    "en_dth_month_y": ("en", "{dth} {month} {y}"),
    "en_weekday_d_month_y": ("en", "{Weekday}, {d} {Month} {y}"),
    "en_weekday_month_d_y": ("en", "{Weekday}, {Month} {d}, {y}"),
    "en_lower_weekday_d_month_y": ("en", "{weekday}, {d} {month} {y}"),
    "en_d_mon_y": ("en", "{d} {Mon} {y}"),
    "en_mon_d_y": ("en", "{Mon} {d}, {y}"),
    "en_y_mon_d": ("en", "{y} {mon} {d}"),
    "en_dd_MON_y": ("en", "{dd} {MON} {y}"),
    "en_wkd_d_mon_yy": ("en", "{Wkd} {d} {Mon} {yy}"),
    "en_month_dth_apostrophe_yy": ("en", "{Month} {dth} '{yy}"),
    "us_m_d_yy": (None, "{m}/{d}/{yy}"),
    "us_mm_dd_yyyy": (None, "{mm}/{dd}/{y}"),
    "dot_dd_mm_yyyy": (None, "{dd}.{mm}.{y}"),
    "dot_d_m_yy": (None, "{d}.{m}.{yy}"),
    "dash_y_m_d": (None, "{y}-{m}-{d}"),
    "slash_yyyy_mm_dd": (None, "{y}/{mm}/{dd}"),
    "compact_yyyymmdd": (None, "{y}{mm}{dd}"),
    "de_d_month_y": ("de", "{d}. {Month} {y}"),
    "de_weekday_d_month_y": ("de", "{Weekday}, {d}. {Month} {y}"),
    "de_am_d_month_y": ("de", "am {d}. {Month} {y}"),
    "es_d_de_month_de_y": ("es", "{d} de {month} de {y}"),
    "es_weekday_d_de_month_de_y": ("es", "{weekday}, {d} de {month} de {y}"),
    "es_d_mon_y": ("es", "{d} {mon}. {y}"),
}


def format_names(locales: Sequence[str] = ("en",)) -> list[str]:
    """Formats used for `locales`: theirs plus the numeric ones.

    Raises:
        ValueError: an unknown locale.
    """
    unknown = [x for x in locales if x not in LOCALES]
    if unknown or not locales:
        raise ValueError(
            f"locales must be a non-empty subset of {LOCALES}. Received: "
            f"locales={tuple(locales)}"
        )
    return [
        name
        for name, (locale, _) in FORMATS.items()
        if locale is None or locale in locales
    ]


def _names_fields(locale: str, month: int, weekday: int) -> dict:
    name = _MONTHS[locale][month - 1]
    day_name = _WEEKDAYS[locale][weekday]
    return {
        "Month": name,
        "month": name.lower(),
        "Mon": name[:3],
        "mon": name[:3].lower(),
        "MON": name[:3].upper(),
        "Weekday": day_name,
        "weekday": day_name.lower(),
        "Wkd": day_name[:3],
    }


def _render(
    days: np.ndarray, rng: np.random.Generator, names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Sources and targets for day offsets from 1950-01-01."""
    chosen = [FORMATS[name] for name in names]
    picks = rng.integers(0, len(chosen), size=len(days))
    sources, targets = [], []
    for offset, pick in zip(days.tolist(), picks.tolist()):
        date = datetime.date.fromordinal(_FIRST_DAY + offset)
        y, m, d = date.year, date.month, date.day
        locale, template = chosen[pick]
        fields = _names_fields(locale, m, date.weekday()) if locale else {}
        sources.append(
            template.format(
                d=d,
                dd=f"{d:02d}",
                dth=_th(d),
                m=m,
                mm=f"{m:02d}",
                y=y,
                yy=f"{y % 100:02d}",
                **fields,
            )
        )
        targets.append(f"{y:04d}-{m:02d}-{d:02d}")
    return sources, targets


def _names(locales, formats) -> list[str]:
    names = format_names(locales) if formats is None else list(formats)
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise ValueError(
            "formats must be a non-empty list of names in FORMATS. "
            f"Received: formats={unknown or names}"
        )
    return names


def make_dates(
    n: int,
    *,
    seed: int,
    locales: Sequence[str] = ("en",),
    formats: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Random dates written by hand, with their ISO form.

    Args:
        n: number of pairs.
        seed: the same seed gives the same pairs.
        locales: languages of month and weekday names (`LOCALES`); the
            numeric formats are always included.
        formats: names in `FORMATS` to use instead (e.g. one, for tests).

    Returns:
        `(sources, targets)`: lists of `n` strings; dates uniform over
        1950-01-01..2049-12-31, formats uniform over those chosen.

    Example:

    >>> make_dates(2, seed=0)
    (['2035 jan 24', 'Thursday, 12 September 2013'],
     ['2035-01-24', '2013-09-12'])
    """
    if n < 0:
        raise ValueError(f"n must be >= 0. Received: n={n}")
    names = _names(locales, formats)
    rng = np.random.default_rng(seed)
    days = rng.integers(0, NUM_DAYS, size=n)
    return _render(days, rng, names)


def _spread(pool: np.ndarray, n: int, rng) -> np.ndarray:
    """`n` days from a pool: each day once before any twice."""
    rounds = [rng.permutation(pool) for _ in range(-(-n // len(pool)))]
    return np.concatenate(rounds)[:n] if rounds else pool[:0]


def split_dates(
    n_train: int,
    n_val: int,
    n_test: int,
    *,
    seed: int,
    locales: Sequence[str] = ("en",),
    formats: Sequence[str] | None = None,
) -> tuple[tuple[list[str], list[str]], ...]:
    """Train, validation and test pairs whose dates never overlap.

    The calendar days are shuffled and cut into three disjoint pools, so
    a validation or test date appears in no other split in any format.
    The validation and test pools hold `min(n, NUM_DAYS // 4)` days each
    (each day used once when `n` fits); training uses the other days,
    each once before any repeats.

    Args:
        n_train: training pairs.
        n_val: validation pairs.
        n_test: test pairs.
        seed: the same seed gives the same splits.
        locales: as `make_dates`.
        formats: as `make_dates`.

    Returns:
        `((train_sources, train_targets), (val_sources, val_targets),
        (test_sources, test_targets))`.
    """
    counts = (n_train, n_val, n_test)
    if min(counts) < 0:
        raise ValueError(f"Counts must be >= 0. Received: {counts}")
    names = _names(locales, formats)
    rng = np.random.default_rng(seed)
    days = rng.permutation(NUM_DAYS)
    n_val_days = max(1, min(n_val, NUM_DAYS // 4))
    n_test_days = max(1, min(n_test, NUM_DAYS // 4))
    pools = np.split(days, [n_val_days, n_val_days + n_test_days])
    pools = (pools[2], pools[0], pools[1])
    return tuple(
        _render(_spread(pool, count, rng), rng, names)
        for pool, count in zip(pools, counts)
    )
