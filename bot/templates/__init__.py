"""Jinja2 templates, rendered by one function with autoescape and StrictUndefined."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import BaseLoader, Environment, PackageLoader, StrictUndefined, select_autoescape


def make_environment(loader: BaseLoader) -> Environment:
    """The one set of rendering rules: HTML autoescaped, an undefined variable an error."""
    return Environment(
        loader=loader,
        autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def environment() -> Environment:
    return make_environment(PackageLoader("bot", "templates"))


def render(template: str, /, **context: Any) -> str:
    return environment().get_template(template).render(**context)
