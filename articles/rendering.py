"""Markdown to safe HTML for article bodies.

Staff paste from anywhere, so whatever Markdown lets through (raw HTML included) is sanitised by nh3
with an allow-list: no script, no event handlers, no `javascript:` or `data:` links.
"""

import html as html_lib
import math
import re
from dataclasses import dataclass, field

import markdown
import nh3

WORDS_PER_MINUTE = 230
# A table of contents helps only when there is something to navigate.
TOC_MIN_HEADINGS = 3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto", "tel"}
_CODE_CLASS = re.compile(r"^language-[\w+-]+$")


@dataclass
class RenderedBody:
    html: str
    toc: list = field(default_factory=list)
    reading_minutes: int = 1


def _attribute_filter(element, attribute, value):
    # Only the language hint on code blocks may carry a class; no styling from pasted content.
    if attribute == "class":
        return value if element == "code" and _CODE_CLASS.match(value) else None
    if attribute == "id":
        return value if re.fullmatch(r"[\w-]{1,100}", value) else None
    return value


def sanitise(html):
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _flatten_toc(tokens):
    for token in tokens:
        if token["level"] in (2, 3):
            yield {"id": token["id"], "name": token["name"], "level": token["level"]}
        yield from _flatten_toc(token.get("children", []))


def reading_minutes(text):
    return max(1, math.ceil(len(text.split()) / WORDS_PER_MINUTE))


def render_body(text):
    """Render Markdown to sanitised HTML, with the headings for a table of contents."""
    md = markdown.Markdown(
        extensions=["extra", "sane_lists", "toc"],
        extension_configs={"toc": {"permalink": False, "toc_depth": "2-3"}},
        output_format="html",
    )
    html = sanitise(md.convert(text or ""))
    # Markdown gives heading names as escaped HTML; keep plain text and let templates escape it.
    toc = [
        dict(item, name=html_lib.unescape(nh3.clean(item["name"], tags=set())))
        for item in _flatten_toc(md.toc_tokens)
    ]
    if len(toc) < TOC_MIN_HEADINGS:
        toc = []
    return RenderedBody(html=html, toc=toc, reading_minutes=reading_minutes(text or ""))
