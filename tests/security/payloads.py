"""Hostile input that real attackers send, shared by the security tests and the drills.

Each payload is posted through every field of every public form. Wherever it comes back out (the
response page, the admin, an e-mail) it must come out inert: HTML-escaped, never evaluated as a
template, never able to break out of an attribute or a header.
"""

# Rendered by a template engine, these would print TEMPLATE_INJECTED instead of themselves.
TEMPLATE_INJECTION = [
    "{{ 'TEMPLATE_' | add:'INJECTED' }}",
    "{% filter upper %}template_injected{% endfilter %}",
    "${'TEMPLATE_'+'INJECTED'}",
]
TEMPLATE_INJECTION_MARKER = "TEMPLATE_INJECTED"

XSS = [
    "<script>alert('xss-1')</script>",
    '"><script>alert("xss-2")</script>',
    "'><img src=x onerror=alert('xss-3')>",
    '<img src="x" onerror="alert(`xss-4`)">',
    "<svg/onload=alert('xss-5')>",
    '<svg><script href="data:text/javascript,alert(6)"></script></svg>',
    "javascript:alert('xss-7')",
    '<a href="javascript:alert(8)">click me</a>',
    "<iframe src=\"javascript:alert('xss-9')\"></iframe>",
    '<body onload=alert("xss-10")>',
    "</textarea><script>alert('xss-11')</script>",
    "</title><script>alert('xss-12')</script>",
    "<style>@import 'javascript:alert(13)';</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(14)>",
    "\" autofocus onfocus=\"alert('xss-15')",
]

INJECTION = [
    "' OR '1'='1' --",
    "1; DROP TABLE leads_course; --",
    '" OR ""="',
    "admin'/*",
    "' UNION SELECT username, password FROM auth_user --",
    "%' AND 1=0 UNION SELECT NULL --",
    "drill@example.com\r\nBcc: victim@example.com",
    "Subject: hi\r\nContent-Type: text/html\r\n\r\n<h1>injected</h1>",
    "../../../../etc/passwd",
    "${jndi:ldap://127.0.0.1/a}",
]

ODD_TEXT = [
    "A" * 10_000,
    "x\x00y",
    "\x00",
    "\u202egnp.exe",  # right-to-left override: hides a file extension
    "\u200b\u200c\u200d\ufeff",  # zero-width characters only
    "Zoë Ångström Ñúñez 李小龍 محمد",
    "🎓📚💡 👩‍💻🏳️‍🌈",
    "   ",
    "\t\n\r",
    "-1",
    "99999999999999999999999999999",
    "NaN",
]

PAYLOADS = TEMPLATE_INJECTION + XSS + INJECTION + ODD_TEXT

# Characters whose raw appearance in HTML output would mean a payload escaped its context.
HTML_SPECIAL = set("<>\"'")


def is_markup(payload):
    return any(ch in payload for ch in HTML_SPECIAL)


def leaks_into_html(payload, html):
    """True if the payload comes out of an HTML page or e-mail un-escaped or evaluated."""
    if TEMPLATE_INJECTION_MARKER in html and payload in TEMPLATE_INJECTION:
        return True
    return is_markup(payload) and len(payload) >= 4 and payload in html
