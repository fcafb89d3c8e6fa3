"""Turning the report's data into the HTML page, with Jinja2 templates from reports/templates/.

Autoescaping is on for every template and for strings too: each name, error message and path
comes from a result file, and a result file is untrusted text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, digits: int = 0, unit: str = "") -> str:
    if _missing(x):
        return "n/a"
    return f"{x:,.{digits}f}{unit}"


def ratio(x: Any, lo: Any = None, hi: Any = None) -> str:
    if _missing(x):
        return "n/a"
    text = f"×{x:.2f}"
    if not _missing(lo) and not _missing(hi):
        text += f" [{lo:.2f}–{hi:.2f}]"
    return text


def mib(x: Any) -> str:
    if _missing(x):
        return "n/a"
    return f"{x / 2**30:.2f} GiB" if x >= 2**30 else f"{x / 2**20:,.0f} MiB"


def sci(x: Any) -> str:
    return "n/a" if _missing(x) else f"{x:.1e}"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, ratio=ratio, mib=mib, sci=sci)
    return env


def render_page(context: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**context)
