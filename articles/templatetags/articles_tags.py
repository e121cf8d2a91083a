import json

from django import template
from django.utils.safestring import mark_safe

from articles import metadata

register = template.Library()

# As django.utils.html.json_script: nothing in the data can close the <script> element.
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def article_structured_data(article):
    data = json.dumps(metadata.structured_data(article), ensure_ascii=False)
    return mark_safe(  # noqa: S308 - escaped for a script element above
        '<script type="application/ld+json">' + data.translate(_JSON_SCRIPT_ESCAPES) + "</script>"
    )


@register.simple_tag
def article_social_tags(article):
    return metadata.social_tags(article)


@register.simple_tag
def article_share_links(article):
    return metadata.share_links(article)


@register.simple_tag
def article_canonical_url(article):
    return metadata.canonical_url(article)
