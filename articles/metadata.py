"""What an article tells search engines and social networks: data, rendered by one template."""

from urllib.parse import urlencode

from django.conf import settings

from skilldacity.sharing import share_card


def absolute(path):
    return f"{settings.SITE_URL}{path}"


def canonical_url(article):
    return absolute(article.get_absolute_url())


def hero_image_url(article):
    return absolute(article.hero_image.url) if article.hero_image else None


def share_image(article):
    """The article's hero image, else the site's share card: (url, width, height, alt)."""
    if article.hero_image:
        return (
            hero_image_url(article),
            article.hero_image_width,
            article.hero_image_height,
            article.hero_image_alt,
        )
    card = share_card()
    return card["url"], card["width"], card["height"], card["alt"]


def social_tags(article):
    """OpenGraph and Twitter card tags as (attribute, name, content) triples."""
    url = canonical_url(article)
    image, width, height, alt = share_image(article)
    tags = [
        ("property", "og:type", "article"),
        ("property", "og:site_name", settings.SITE_NAME),
        ("property", "og:title", article.title),
        ("property", "og:description", article.meta_description),
        ("property", "og:url", url),
        ("property", "article:published_time", article.published_at.isoformat()),
        ("property", "article:modified_time", article.updated_at.isoformat()),
        ("name", "twitter:card", "summary_large_image"),
        ("name", "twitter:title", article.title),
        ("name", "twitter:description", article.meta_description),
    ]
    if article.category:
        tags.append(("property", "article:section", article.category.name))
    tags += [("property", "article:tag", tag.name) for tag in article.tags.all()]
    tags += [
        ("property", "og:image", image),
        ("property", "og:image:width", str(width or "")),
        ("property", "og:image:height", str(height or "")),
        ("property", "og:image:alt", alt),
        ("name", "twitter:image", image),
        ("name", "twitter:image:alt", alt),
    ]
    return tags


def structured_data(article):
    """schema.org Article, for search engines (JSON-LD)."""
    data = {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": article.title[:110],
        "description": article.meta_description,
        "mainEntityOfPage": {"@type": "WebPage", "@id": canonical_url(article)},
        "url": canonical_url(article),
        "datePublished": article.published_at.isoformat(),
        "dateModified": article.updated_at.isoformat(),
        "publisher": {
            "@type": "Organization",
            "name": settings.SITE_NAME,
            "url": settings.SITE_URL,
        },
        "wordCount": len(article.body.split()),
        "timeRequired": f"PT{article.reading_minutes}M",
    }
    if article.author:
        data["author"] = {"@type": "Person", "name": article.author.name}
    else:
        data["author"] = {"@type": "Organization", "name": settings.SITE_NAME}
    if article.category:
        data["articleSection"] = article.category.name
    keywords = [tag.name for tag in article.tags.all()]
    if keywords:
        data["keywords"] = ", ".join(keywords)
    data["image"] = [share_image(article)[0]]
    return data


def share_links(article):
    """Plain share links (no third-party scripts), built from the canonical URL."""
    url = canonical_url(article)
    return [
        (
            "facebook",
            "Facebook",
            "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url}),
        ),
        (
            "x",
            "X (Twitter)",
            "https://twitter.com/intent/tweet?" + urlencode({"url": url, "text": article.title}),
        ),
        (
            "linkedin",
            "LinkedIn",
            "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url}),
        ),
    ]
