"""axe-core in Chromium: no WCAG 2.2 AA violation (colour contrast included) on any public page, at
phone and desktop widths, nor on the admin pages staff work in every day. Two checks axe leaves
out are added on the public pages: no sideways scrolling, and form fields' edges visible."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.test import Client

from articles.models import Article
from bench.drills.urlwalk import client_pages
from leads.models import Lead

pytestmark = pytest.mark.django_db(transaction=True)

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def violations(page, unmeasured_contrast=True):
    """Readable lines, one per failing element, for the assertion message. On the public pages,
    text whose contrast axe cannot measure (on a gradient, over a background image) counts as
    failing: it is unverified. Not in the admin, where Django draws its add and change icons and
    the dashboard its chart labels that way, beside or inside the text's box, never behind it."""
    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": WCAG_22_AA},
            "resultTypes": ["violations", "incomplete"],
        },
    )
    unmeasured = [
        result
        for result in results.response["incomplete"]
        if unmeasured_contrast and result["id"] == "color-contrast"
    ]
    lines = []
    for violation in results.response["violations"] + unmeasured:
        for node in violation["nodes"]:
            lines.append(
                f"{page.url}: {violation['id']} ({violation['impact']}) {node['target']}: "
                + node.get("failureSummary", "").replace("\n", " ")
            )
    return lines


# WCAG 1.4.11: a field's edge is what shows where to type, so it needs 3:1 against the white the
# form sits on (the fields in main; the footer's are white boxes on a dark band).
FAINT_FIELD_EDGES = """() => {
  const luminance = colour => {
    const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  return [...document.querySelectorAll("main input, main select, main textarea")]
    .filter(field => field.type !== "hidden" && field.getClientRects().length
      && !field.closest(".hp-field"))
    .filter(field => 1.05 / (luminance(getComputedStyle(field).borderTopColor) + 0.05) < 3)
    .map(field => `${field.name}: edge ${getComputedStyle(field).borderTopColor}`);
}"""


def layout_faults(page, viewport):
    """Sideways scrolling at the page's width (WCAG 1.4.10 reflow), faint field edges."""
    faults = [f"{page.url}: {fault}" for fault in page.evaluate(FAINT_FIELD_EDGES)]
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > viewport["width"]:
        faults.append(f"{page.url}: {width}px wide at a {viewport['width']}px viewport")
    return faults


def public_paths():
    return list(client_pages(Client(), start=["/news/?q=machine+learning"]))


def test_every_public_page_passes_axe_at_phone_and_desktop_widths(live_server, new_context):
    call_command("seed_demo")
    paths = public_paths() + ["/contact/?invalid", "/quote/?invalid"]
    found = []
    for viewport in (PHONE, DESKTOP):
        page = new_context(viewport=viewport).new_page()
        for path in paths:
            if path.endswith("?invalid"):
                # The same form sent back with errors: the summary and the invalid fields.
                page.goto(live_server.url + path.removesuffix("?invalid"))
                with page.expect_navigation():
                    page.locator("main form button[type=submit]").first.evaluate(
                        "button => { button.form.noValidate = true; button.click(); }"
                    )
            else:
                page.goto(live_server.url + path)
            found += violations(page) + layout_faults(page, viewport)
    assert not found, f"{len(found)} axe violations:\n" + "\n".join(found)


def test_key_admin_pages_pass_axe(live_server, page, django_user_model):
    call_command("seed_demo")
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-12345-long")
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("pw-12345-long")
    page.get_by_role("button", name="Log in").click()
    lead = Lead.objects.order_by("pk").first()
    article = Article.objects.order_by("pk").first()
    found = []
    for path in (
        "/admin/",
        "/admin/leads/lead/",
        f"/admin/leads/lead/{lead.pk}/change/",
        f"/admin/articles/article/{article.pk}/change/",
        "/admin/insights/",
    ):
        page.goto(live_server.url + path)
        found += violations(page, unmeasured_contrast=False)
    assert not found, f"{len(found)} axe violations:\n" + "\n".join(found)
