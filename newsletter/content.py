"""The body of a newsletter issue as it appears in the e-mail, rendered once per worker."""

from functools import lru_cache

import markdown
import nh3
from django.conf import settings

from .models import Issue

ALLOWED_TAGS = {
    "a", "p", "br", "strong", "em", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "code", "pre",
    "hr",
}  # fmt: skip


def _absolute_links(tag, attribute, value):
    # An e-mail has no base URL: a site-relative link like /news/ must carry the site.
    if tag == "a" and attribute == "href" and value.startswith("/") and not value.startswith("//"):
        return settings.SITE_URL + value
    return value


def render_markdown(text):
    html = markdown.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        attribute_filter=_absolute_links,
    )


@lru_cache(maxsize=16)
def issue_content(issue_id, version):
    """HTML body, plain body and featured articles of an issue. `version` (the issue's
    updated_at) is part of the cache key, so an edited draft's next test send is fresh."""
    issue = Issue.objects.filter(pk=issue_id).first()
    if issue is None:
        return {"html": "", "text": "", "articles": ()}
    articles = issue.featured_articles.published()
    return {
        "html": render_markdown(issue.body),
        "text": issue.body,
        "articles": tuple(
            {"title": a.title, "path": a.get_absolute_url(), "summary": a.summary}
            for a in articles.only("title", "slug", "summary")
        ),
    }
