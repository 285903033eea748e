"""How values read in labels, legends, file names and summaries, and how typed values match them.

A swept float such as lr = 10^-1.5 = 0.0316227... is shown with 3 significant digits (0.0316);
a value typed by the user (``--where lr=3e-2``) matches the grid values that round to it at the
precision it was typed with (3e-2: one digit, matches 0.0316). Thresholds are shown at the precision
their interval supports (2 significant digits when it is wide, whole numbers for counts such as m').
"""

from __future__ import annotations

import math
import re

DIGITS = 3  # significant digits of a float in labels and file names


def value_text(v, digits: int = DIGITS) -> str:
    """A member field's value as shown: floats with ``digits`` significant digits, the rest as str."""
    if isinstance(v, float) and not isinstance(v, bool):
        if not math.isfinite(v):
            return str(v)
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        return f"{v:.{digits}g}"
    return str(v)


def series_label(key: dict, fields) -> str:
    """"n=8, lr=0.0316" for the given fields of a series key."""
    return ", ".join(f"{k}={value_text(key.get(k))}" for k in fields)


def varying(dicts, fields=None) -> list[str]:
    """The fields whose values differ among ``dicts`` (compared as repr; a missing field reads None):
    in the order of ``fields`` when given, else every field of the dicts, sorted."""
    dicts = list(dicts)
    names = list(dict.fromkeys(fields)) if fields is not None else sorted({k for d in dicts for k in d})
    return [k for k in names if len({repr(d.get(k)) for d in dicts}) > 1]


def series_keys(keys, series_fields=(), covariates=()) -> list[str]:
    """The fields that tell series apart, for tables and labels: the covariates first, then the
    kind's other series fields, then any other field that varies (e.g. a swept lr)."""
    keys = list(keys)
    order = [*covariates, *series_fields, *sorted({k for key in keys for k in key})]
    return varying(keys, order)


def _significant_digits(text: str) -> int | None:
    """Significant digits a number was typed with ("3e-2" -> 1, "0.0316" -> 3, "100" -> 3)."""
    m = re.fullmatch(r"\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE][+-]?\d+)?\s*", text)
    if not m or not (m.group(1) or m.group(2)):
        return None
    digits = ((m.group(1) or "") + (m.group(2) or "")).lstrip("0")
    return max(len(digits), 1)


def matches(text: str, value) -> bool:
    """Whether a typed value selects ``value``: as text, or numerically at the typed precision."""
    if str(value) == text or value_text(value) == text:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        typed = float(text)
    except ValueError:
        return False
    if math.isclose(float(value), typed, rel_tol=1e-9, abs_tol=0.0):
        return True
    digits = _significant_digits(text)
    return digits is not None and float(f"{float(value):.{digits}g}") == typed


def number(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, whole numbers without a decimal point."""
    if x is None or not math.isfinite(x):
        return "-" if x is None else str(x)
    if 10**digits <= abs(x) < 1e12:  # a whole number, rounded to ``digits`` significant digits
        return str(int(round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))))
    text = f"{x:.{digits}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        return f"{mantissa}e{int(exp)}"
    return text


def threshold_text(s: dict, integer: bool = False, censored_note: bool = False) -> str:
    """A series' threshold at the precision its interval supports.

    Censored series: the bound ("< 8"). A wide interval (hi/lo > 1.5) gets 2 significant digits; an
    estimate that is just the geometric midpoint of its interval's ends (the transition lies between
    two grid points and the data cannot place it) reads "between lo and hi". ``integer``: the
    resource is a count (m', d_k), so values of 10 and more are rounded to whole numbers.
    ``censored_note`` marks a censored bound as such ("> 1024 (censored)").
    """
    if s.get("censored"):
        rel = {"below": "<", "above": ">"}.get(s["censored"], "?")
        return f"{rel} {_num(s.get('bound'), 6, integer)}{' (censored)' if censored_note else ''}"  # a grid value: all its digits
    t, lo, hi = s.get("threshold"), s.get("lo"), s.get("hi")
    if t is None:
        return "no estimate"
    if lo is None or hi is None or lo <= 0:
        return _num(t, 3, integer)
    digits = 2 if hi / lo > 1.5 else 3
    if hi > lo and math.isclose(t, math.sqrt(lo * hi), rel_tol=0.01):
        return f"between {_num(lo, 3, integer)} and {_num(hi, 3, integer)}"
    return f"{_num(t, digits, integer)} [{_num(lo, digits, integer)}, {_num(hi, digits, integer)}]"


def _num(x, digits: int, integer: bool) -> str:
    if x is None:
        return "-"
    if integer and abs(x) >= 10:
        return str(round(x))
    return number(x, digits)


__all__ = ["value_text", "series_label", "varying", "series_keys", "matches", "number", "threshold_text"]
