"""Find the forms on a page and fill them in like a visitor would.

Shared by the drills (which post every public form under load) and tests/security (which post
hostile input through every field), so both discover the same forms the same way: from the HTML
the site serves, not from a list someone has to keep up to date.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

HONEYPOT_FIELD = "website"
STARTED_FIELD = "form_started"
CSRF_FIELD = "csrfmiddlewaretoken"
# Fields the site fills in for the visitor: a filler keeps their served values.
MACHINE_FIELDS = {CSRF_FIELD, STARTED_FIELD, HONEYPOT_FIELD}


def base_name(name):
    """A field's name without its form prefix: two forms on one page prefix their fields
    (quote-website, callback-form_started)."""
    return name.rsplit("-", 1)[-1]


# Signs of a form re-shown with its errors (crispy bootstrap5 and Django's own markup).
ERROR_MARKERS = ("is-invalid", "errorlist", "invalid-feedback", "alert-danger")


@dataclass
class Field:
    name: str
    kind: str  # input type ("text", "email", "hidden", "checkbox"...), "select" or "textarea"
    value: str = ""
    options: list = field(default_factory=list)  # select options / radio values
    checked: bool = False
    required: bool = False
    multiple: bool = False


@dataclass
class Form:
    page_url: str
    action: str
    method: str
    fields: list = field(default_factory=list)

    @property
    def field_names(self):
        return tuple(sorted({f.name for f in self.fields}))

    @property
    def key(self):
        """Identifies "the same form" on different pages (the footer sign-up is on all of them)."""
        return (self.method, urlsplit(self.action).path, self.field_names)

    @property
    def spam_protected(self):
        """Public submission forms (leads, newsletter, sign-ups) carry the signed start time."""
        return any(base_name(name) == STARTED_FIELD for name in self.field_names)

    @property
    def visible_fields(self):
        """The fields a visitor types into: everything but hidden and machine fields."""
        return [
            f for f in self.fields if f.kind != "hidden" and base_name(f.name) not in MACHINE_FIELDS
        ]

    def served_values(self):
        return {
            f.name: f.value
            for f in self.fields
            if f.kind == "hidden" or base_name(f.name) in MACHINE_FIELDS
        }


class _FormParser(HTMLParser):
    def __init__(self, page_url):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms = []
        self._form = None
        self._select = None
        self._textarea = None
        self._option_from_text = False

    def handle_starttag(self, tag, attrs):
        attrs = {name: (value or "") for name, value in attrs}
        if tag == "form":
            action = urljoin(self.page_url, attrs.get("action") or self.page_url)
            self._form = Form(self.page_url, action, (attrs.get("method") or "get").lower())
            self.forms.append(self._form)
            return
        if tag == "option" and self._select is not None:
            # An option without a value attribute posts its text (see handle_data).
            self._option_from_text = "value" not in attrs
            self._select.options.append(attrs.get("value", ""))
            return
        if self._form is None or not attrs.get("name"):
            return
        name = attrs["name"]
        required = "required" in attrs
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind == "radio":
                existing = next((f for f in self._form.fields if f.name == name), None)
                if existing:
                    existing.options.append(attrs.get("value", "on"))
                    return
                self._form.fields.append(
                    Field(name, kind, attrs.get("value", "on"), [attrs.get("value", "on")])
                )
                return
            self._form.fields.append(
                Field(
                    name,
                    kind,
                    attrs.get("value", "on" if kind == "checkbox" else ""),
                    checked="checked" in attrs,
                    required=required,
                )
            )
        elif tag == "select":
            self._select = Field(name, "select", required=required, multiple="multiple" in attrs)
            self._form.fields.append(self._select)
        elif tag == "textarea":
            self._textarea = Field(name, "textarea", required=required)
            self._form.fields.append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data
        elif self._option_from_text and self._select is not None:
            self._select.options[-1] += data.strip()

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._option_from_text = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(html, page_url):
    parser = _FormParser(page_url)
    parser.feed(html)
    parser.close()
    return parser.forms


def shows_errors(html):
    return any(marker in html for marker in ERROR_MARKERS)


def visitor_value(fld, *, email, serial):
    """What a plausible visitor types into one field, by its type and name."""
    name = fld.name.lower()
    if fld.kind == "select":
        choices = [option for option in fld.options if option != ""]
        return choices[0] if choices else ""
    if fld.kind == "radio":
        return fld.options[0]
    if fld.kind == "checkbox":
        return fld.value or "on"
    if fld.kind == "email" or "email" in name:
        return email
    if fld.kind == "tel" or "phone" in name:
        return f"+44 7700 900{serial % 1000:03d}"
    if fld.kind in {"number", "range"}:
        return "5"
    if fld.kind == "url":
        return "https://example.com/"
    if fld.kind == "date":
        return "2030-01-15"
    if fld.kind == "time":
        return "10:00"
    if fld.kind == "password":
        return "Drill-Pass-4821-xyz"
    if "name" in name:
        return f"Drill Visitor {serial}"
    if "organisation" in name or "organization" in name or "company" in name:
        return f"Drill Training Ltd {serial}"
    return f"Drill message {serial}"


TOKEN_PATH = "/forms/token/"


def needs_token(form):
    """A form from a page the HTTP cache may serve to everyone: its CSRF token and start time
    are left empty for the page's script to fetch (skilldacity/formtokens.py)."""
    return any(fld.name == CSRF_FIELD and not fld.value for fld in form.fields)


def put_token(form, token):
    """Do what static/js/forms.js does with the token endpoint's answer (a dict)."""
    for fld in form.fields:
        if fld.name == CSRF_FIELD:
            fld.value = token["csrfToken"]
        elif base_name(fld.name) == STARTED_FIELD and not fld.value:
            fld.value = token["formStarted"]


def fill(form, *, email, serial, overrides=None):
    """The form's data as a visitor would post it: a list of (name, value) pairs.

    Served values (CSRF token, signed start time, hidden source) are kept, the honeypot stays
    empty, and `overrides` replaces chosen fields (e.g. with a hostile payload).
    """
    overrides = overrides or {}
    data = []
    for fld in form.fields:
        if fld.name in overrides:
            data.append((fld.name, overrides[fld.name]))
        elif base_name(fld.name) == HONEYPOT_FIELD:
            data.append((fld.name, ""))
        elif fld.kind == "hidden" or base_name(fld.name) in MACHINE_FIELDS:
            data.append((fld.name, fld.value))
        else:
            data.append((fld.name, visitor_value(fld, email=email, serial=serial)))
    return data
