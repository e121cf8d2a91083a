"""Article bodies: Markdown in, sanitised HTML out, whatever staff paste."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from articles.rendering import render_body

# Real payloads from the OWASP XSS filter evasion cheat sheet and PortSwigger's list.
XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/xss.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<svg onload="alert(1)">',
    "<svg><script>alert(1)</script></svg>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "![x](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
    '<body onload="alert(1)">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<input autofocus onfocus="alert(1)">',
    '<details open ontoggle="alert(1)">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '"><img src=x onerror=alert(1)>',
    "<<script>script>alert(1)<</script>/script>",
    '<p onmouseover="alert(1)">hover</p>',
    '<h2 id="x" onclick="alert(1)">Heading</h2>',
    '<code class="x" onclick="alert(1)">code</code>',
]

FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "form", "input", "button", "meta", "base", "link",
    "style", "svg", "math", "body", "details",
}  # fmt: skip


class ElementAudit(HTMLParser):
    """What a browser would build from the HTML: elements and attributes, not text."""

    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag}[{name}]")
            if name in {"href", "src"}:
                scheme = urlsplit((value or "").strip()).scheme.lower()
                if scheme not in {"", "http", "https", "mailto", "tel"}:
                    self.problems.append(f"{tag}[{name}={value}]")


def audit(html):
    parser = ElementAudit()
    parser.feed(html)
    parser.close()
    return parser.problems


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_attack_strings_render_harmless(payload):
    html = render_body(f"Intro paragraph.\n\n{payload}\n\nOutro.").html
    assert audit(html) == [], html
    # Text before the payload always survives (an unclosed tag may swallow what follows it,
    # as it would in any browser).
    assert "<p>Intro paragraph.</p>" in html


def test_markdown_features_survive_sanitising():
    body = """## Heading two

Para with **bold**, *em*, `code` and a [link](https://skilldacity.example/quote/).

- one
- two

1. first
2. second

![Diagram of a pipeline](https://skilldacity.example/media/pipeline.png)

```python
print("hello")
```

### Sub heading
"""
    html = render_body(body).html
    assert '<h2 id="heading-two">Heading two</h2>' in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html
    assert '<a href="https://skilldacity.example/quote/" rel="noopener noreferrer">link</a>' in html
    assert "<ul>" in html and "<ol>" in html
    assert '<img alt="Diagram of a pipeline"' in html or 'alt="Diagram of a pipeline"' in html
    assert '<code class="language-python">' in html
    assert "<h3" in html


def test_table_of_contents_only_for_long_articles():
    short = render_body("## One\n\ntext\n\n## Two\n\ntext")
    long = render_body("## One\n\n## Two & more\n\n### Two point one\n\n## Three")
    assert short.toc == []
    assert [(item["name"], item["level"]) for item in long.toc] == [
        ("One", 2),
        ("Two & more", 2),
        ("Two point one", 3),
        ("Three", 2),
    ]
    assert long.toc[1]["id"] == "two-more"


def test_reading_time_rounds_up_and_is_at_least_a_minute():
    assert render_body("").reading_minutes == 1
    assert render_body("word " * 231).reading_minutes == 2
    assert render_body("word " * 2300).reading_minutes == 10


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=400))
def test_any_unicode_body_renders_without_error_or_script(text):
    assert audit(render_body(text).html) == []
