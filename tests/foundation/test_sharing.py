"""Every page shares with an image: the article's hero, else the site's 1200x630 card."""

import re
from html import unescape

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from PIL import Image

from bench.drills.urlwalk import client_pages
from skilldacity.sharing import SHARE_CARD

pytestmark = pytest.mark.django_db

IMAGE_TAGS = ["og:image", "og:image:width", "og:image:height", "og:image:alt", "twitter:image"]


def meta_tags(html):
    return {
        name: unescape(content)
        for name, content in re.findall(
            r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', html
        )
    }


def test_the_share_card_is_a_1200_by_630_png():
    with Image.open(finders.find(SHARE_CARD["path"])) as card:
        assert (card.format, card.size) == ("PNG", (1200, 630))


def test_every_page_has_a_share_image_with_its_size_and_alt(client):
    call_command("seed_demo")
    pages = client_pages(client)
    assert len(pages) > 10
    for path, html in pages.items():
        tags = meta_tags(html)
        assert all(tags.get(name) for name in IMAGE_TAGS), (path, tags)
        assert tags["twitter:card"] == "summary_large_image", path
        # Demo articles have no hero image: they share the site's card, at its real size.
        assert tags["og:image"] == f"http://127.0.0.1:8000/static/{SHARE_CARD['path']}", path
        assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630"), path
        assert tags["og:image:alt"] == SHARE_CARD["alt"], path
