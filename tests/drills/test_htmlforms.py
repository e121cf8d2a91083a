"""The drills' form filler reads forms as a browser would and fills them as a visitor would."""

from bench.drills.htmlforms import fill, parse_forms, shows_errors

LEAD_FORM = """
<form method="post" action="/quote/" id="quote">
  <input type="hidden" name="csrfmiddlewaretoken" value="tok">
  <input type="hidden" name="form_started" value="signed">
  <input type="hidden" name="source" value="article">
  <div class="hp-field"><input type="text" name="website" value=""></div>
  <input type="text" name="full_name" required>
  <input type="email" name="email" required>
  <input type="tel" name="phone">
  <input type="number" name="learners">
  <select name="course"><option value="">Choose…</option><option value="7">Python</option></select>
  <select name="platforms" multiple>
    <option value="a">A</option><option value="b">B</option>
  </select>
  <input type="radio" name="best_time" value="morning">
  <input type="radio" name="best_time" value="pm">
  <input type="checkbox" name="consent" value="yes">
  <textarea name="message">Hello</textarea>
  <input type="submit" name="go" value="Send">
</form>
<form method="get" action="/search/"><input type="search" name="q"></form>
"""


def test_parses_every_kind_of_field_and_resolves_the_action():
    forms = parse_forms(LEAD_FORM, "http://127.0.0.1:8600/news/some-article/")

    assert [f.method for f in forms] == ["post", "get"]
    lead = forms[0]
    assert lead.action == "http://127.0.0.1:8600/quote/"
    assert lead.spam_protected
    assert not forms[1].spam_protected
    kinds = {f.name: f.kind for f in lead.fields}
    assert kinds["course"] == "select"
    assert kinds["best_time"] == "radio"
    assert "go" not in kinds  # submit buttons are not data
    assert {f.name for f in lead.visible_fields} == {
        "full_name", "email", "phone", "learners", "course", "platforms", "best_time",
        "consent", "message",
    }  # fmt: skip


def test_fills_like_a_visitor_and_keeps_what_the_site_served():
    lead = parse_forms(LEAD_FORM, "http://127.0.0.1:8600/quote/")[0]

    data = dict(fill(lead, email="v-42@example.com", serial=42))

    assert data["csrfmiddlewaretoken"] == "tok"
    assert data["form_started"] == "signed"
    assert data["source"] == "article"
    assert data["website"] == ""  # the honeypot stays empty
    assert data["email"] == "v-42@example.com"
    assert data["phone"] == "+44 7700 900042"
    assert data["learners"] == "5"
    assert data["course"] == "7"  # the first real option, not the "Choose…" placeholder
    assert data["platforms"] == "a"
    assert data["best_time"] == "morning"
    assert data["consent"] == "yes"
    assert data["full_name"] == "Drill Visitor 42"


def test_overrides_replace_one_field_only():
    lead = parse_forms(LEAD_FORM, "http://127.0.0.1:8600/quote/")[0]

    data = dict(fill(lead, email="v@example.com", serial=1, overrides={"message": "<b>x</b>"}))

    assert data["message"] == "<b>x</b>"
    assert data["email"] == "v@example.com"


def test_recognises_a_form_shown_again_with_errors():
    assert shows_errors('<input class="form-control is-invalid" name="email">')
    assert shows_errors('<ul class="errorlist"><li>Enter a valid e-mail.</li></ul>')
    assert not shows_errors("<p>Thanks, we will call you back.</p>")


def test_an_option_without_a_value_posts_its_text():
    html = '<form method="post"><select name="size"><option>Large</option></select></form>'

    form = parse_forms(html, "http://127.0.0.1/")[0]

    assert dict(fill(form, email="x@example.com", serial=1))["size"] == "Large"
