"""The site-wide share card: the image social networks show for a page without one of its own."""

from django.conf import settings
from django.templatetags.static import static

# The size Facebook, LinkedIn and X's large card all crop to without losing anything.
SHARE_CARD = {
    "path": "img/share-card.png",
    "width": 1200,
    "height": 630,
    "alt": "Skilldacity: learn the skills the next job asks for",
}


def share_card():
    """The card as og:image data: an absolute URL (static's hashed name in production)."""
    return {**SHARE_CARD, "url": f"{settings.SITE_URL}{static(SHARE_CARD['path'])}"}


def make_share_card(target):
    """Draw the card (run once; the PNG is shipped in static/): `python -m skilldacity.sharing`."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = SHARE_CARD["width"], SHARE_CARD["height"]
    card = Image.new("RGB", (width, height), "#073a73")
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, height - 24, width, height), fill="#0a4f9c")
    draw.text((80, 150), "Skilldacity", fill="#ffffff", font=ImageFont.load_default(size=110))
    font = ImageFont.load_default(size=54)
    for number, line in enumerate(["Learn the skills", "the next job asks for"]):
        draw.text((80, 320 + number * 76), line, fill="#e8eef7", font=font)
    card.save(target, optimize=True)


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skilldacity.settings")
    django.setup()
    make_share_card(settings.BASE_DIR / "static" / SHARE_CARD["path"])
