"""The HTML snippet a page embeds (`leadbot form snippet NAME`): the same form as the hosted page,
with an empty fill token (the optional script fetches one; with JavaScript off, the first post
comes back once with a token, for one more click) and the script tag."""

from __future__ import annotations

from bot.forms import definitions as d
from bot.templates import render
from storage.models import WebForm


def snippet_html(form: WebForm, public_url: str) -> str:
    base = public_url.rstrip("/")
    return render(
        "pages/forms/snippet.html.j2",
        form=form,
        fields=d.form_fields(form),
        action=f"{base}/f/{form.name}",
        values={},
        errors={},
        token="",
        utm=d.UTM,
        notice="",
        script=f"{base}/f/{form.name}/form.js",
    )
