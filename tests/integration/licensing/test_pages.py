"""The licensing pages through the real app with a session cookie: the panel's forms, the alert list form,
the front page counts, navigation per role."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db
ORIGIN = {"Origin": "http://testserver"}


def test_panel_through_the_pages(cast, actors, client):
    cast.to_fully_licensed()
    actors.login("officer")
    r = client.post("/panel", headers=ORIGIN, data={"topic": "Custody of stablecoins", "deadline": "2999-01-31"},
                    files={"paper": ("paper.md", b"# Should stablecoins be admitted?", "text/markdown")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    page = client.get(url)
    assert "consultation paper" in page.text and "Publish the summary" in page.text
    paper_url = page.text.split('href="/licensing/documents/')[1].split('"')[0]
    actors.login("acme_user")
    assert client.get(f"/licensing/documents/{paper_url}").content == b"# Should stablecoins be admitted?"
    r = client.post(f"{url}/responses", headers=ORIGIN, data={"text": "Admit with monthly attestations."})
    assert r.status_code == 200 and "Admit with monthly attestations." in r.text  # after the redirect
    actors.login("beta_user")  # not licensed: not a member
    assert "File a response" not in client.get(url).text
    assert client.post(f"{url}/responses", headers=ORIGIN, data={"text": "Let us in too."}).status_code == 403
    actors.login("officer")
    r = client.post(f"{url}/summary", headers=ORIGIN, data={"summary": "One member supports admission."})
    assert "One member supports admission." in r.text and "published" in r.text


def test_alert_list_form_and_front_page_counts(cast, actors, client):
    actors.login("officer")
    r = client.post("/register/alert-list", headers=ORIGIN,
                    data={"name": "Shady Coin", "website": "https://shady.example", "reason": "Claims a licence."})
    assert r.status_code == 200 and "Shady Coin" in r.text
    client.post("/logout", headers=ORIGIN)
    home = client.get("/")
    assert 'data-testid="count-alert-list"' in home.text
    assert home.text.split('data-testid="count-alert-list"')[1].split('class="n">')[1].startswith("1<")
    assert "Pipeline" not in home.text  # the public sees the register only
    actors.login("acme_user")
    r = client.post("/register/alert-list", headers=ORIGIN,
                    data={"name": "Rival Exchange", "website": "https://rival.example", "reason": "We dislike them."})
    assert r.status_code == 403
    assert "Rival Exchange" not in client.get("/register/alert-list").text


def test_navigation_per_role(cast, actors, client):
    actors.login("supervisor")
    text = client.get("/licensing").text
    assert all(label in text for label in ("Register", "Applications", "Pipeline", "Panel"))
    actors.login("assessor")
    text = client.get("/licensing").text
    assert "Pipeline" not in text and "Panel" not in text.split("</nav>")[0]
