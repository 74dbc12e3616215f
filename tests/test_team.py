"""A team on one queue, through the studio's own HTTP interface (a real app over a real git site): accounts,
invitations, sessions and lockouts on a clock the test controls; every route's role checked with each role; CSRF
per session; claims; attribution in git, history, show, provenance and audit; question lists uploaded and drafted."""

from __future__ import annotations

import json
import re
import time

import pytest

from conftest import git, run_qtgen, studio_client
from fake_openai import FakeOpenAI
from test_studio import site_with_drafts  # noqa: F401 - the fixture

BASE = "http://127.0.0.1:9"


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def join(app_client_factory, url: str, password: str = "correct horse battery"):
    """A new browser (client) that opens an invitation and sets its password; the client, logged in."""
    client = app_client_factory()
    page = client.get(url.removeprefix(BASE))
    assert page.status_code == 200, page.text
    pre = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(url.removeprefix(BASE), data={"csrf": pre, "password": password, "again": password},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def team(site_with_drafts):
    """The owner's client (a publisher: the git identity Tester), a writer Ana and a publisher Bob, each in a
    browser of their own, and the clock the studio's stores read."""
    from starlette.testclient import TestClient

    clock = Clock()
    owner, studio = studio_client(site_with_drafts, clock=clock)
    app = owner.app
    new = lambda: TestClient(app, base_url=BASE)  # noqa: E731 - another browser
    urls = {}
    for name, email, role in (("Ana Lima", "ana@example.org", "writer"), ("Bob Reis", "bob@example.org", "publisher")):
        r = owner.post("/team/invite", data={"csrf": csrf_of(owner.get("/team").text), "name": name, "email": email,
                                             "role": role})
        urls[name] = re.search(r'id="invitation-url">([^<]+)<', r.text).group(1)
    ana, bob = join(new, urls["Ana Lima"]), join(new, urls["Bob Reis"])
    return {"owner": owner, "ana": ana, "bob": bob, "new": new, "studio": studio, "clock": clock,
            "site": site_with_drafts, "urls": urls}


def draft_ids(client) -> list[str]:
    return list(dict.fromkeys(re.findall(r'href="/draft/([0-9a-f]{16})"', client.get("/").text)))


def test_an_invitation_works_once_and_expires(team):
    new, owner, clock = team["new"], team["owner"], team["clock"]
    used = team["urls"]["Ana Lima"].removeprefix(BASE)
    assert new().get(used).status_code == 410  # used: worthless, whoever opens it
    r = owner.post("/team/invite", data={"csrf": csrf_of(owner.get("/team").text), "name": "Cy Mota",
                                         "email": "cy@example.org", "role": "writer"})
    late = re.search(r'id="invitation-url">([^<]+)<', r.text).group(1).removeprefix(BASE)
    clock.now += 73 * 3600  # past its 72 hours
    browser = new()
    assert browser.get(late).status_code == 410
    assert browser.post(late, data={"csrf": "x", "password": "p" * 12, "again": "p" * 12}).status_code == 403
    assert browser.get("/", follow_redirects=False).status_code == 401
    assert owner.get("/", follow_redirects=False).status_code == 401  # the owner's session idled out meanwhile
    owner.get("/?login=" + team["studio"].new_login())  # a new one-time login URL (a restarted studio prints one)
    # re-inviting someone who has an account is refused, saying how to do it
    r = owner.post("/team/invite", data={"csrf": csrf_of(owner.get("/team").text), "name": "ana lima",
                                         "email": "ana@example.org", "role": "publisher"}, follow_redirects=True)
    assert "already has an account" in r.text


def test_a_login_makes_a_new_session_locks_out_brute_force_and_sessions_end(team):
    new, clock = team["new"], team["clock"]
    browser = new()
    planted = "attacker-chosen-session-token"
    browser.cookies.set("qtgen_studio_9", planted)  # session fixation: a token set before the login
    page = browser.get("/login")
    assert page.status_code == 200
    pre = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = browser.post("/login", data={"csrf": pre, "name": "Ana Lima", "password": "correct horse battery"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    token = re.search(r"qtgen_studio_9=([^;]+)", r.headers["set-cookie"]).group(1)
    assert token != planted and "HttpOnly" in r.headers["set-cookie"] and "SameSite=strict" in r.headers["set-cookie"]
    attacker = new()
    attacker.cookies.set("qtgen_studio_9", planted)
    assert attacker.get("/", follow_redirects=False).status_code == 401
    # brute force: five wrong passwords lock the account, the right one is then refused too, for 15 minutes
    guesser = new()
    pre = re.search(r'name="csrf" value="([^"]+)"', guesser.get("/login").text).group(1)
    codes = [guesser.post("/login", data={"csrf": pre, "name": "Bob Reis", "password": f"guess {n}"}).status_code
             for n in range(6)]
    assert codes == [401] * 5 + [429]
    locked = guesser.post("/login", data={"csrf": pre, "name": "Bob Reis", "password": "correct horse battery"})
    assert locked.status_code == 429 and "locked" in locked.text and int(locked.headers["retry-after"]) > 0
    clock.now += 16 * 60
    opened = guesser.post("/login", data={"csrf": pre, "name": "Bob Reis", "password": "correct horse battery"},
                          follow_redirects=False)
    assert opened.status_code == 303
    # one address guessing across accounts is cut off too
    spray = new()
    pre = re.search(r'name="csrf" value="([^"]+)"', spray.get("/login").text).group(1)
    codes = [spray.post("/login", data={"csrf": pre, "name": f"user {n}", "password": "x" * 12}).status_code
             for n in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429
    # sessions expire when idle, and logout ends one at once
    ana = team["ana"]
    assert ana.get("/", follow_redirects=False).status_code == 200
    clock.now += 13 * 3600
    assert ana.get("/", follow_redirects=False).status_code == 401
    assert team["bob"].get("/", follow_redirects=False).status_code == 401  # Bob's first session idled out too
    assert ana.get("/login").status_code == 200  # the login page, to log in again


def test_logout_and_revoke_end_sessions_at_once(team):
    ana, bob, owner = team["ana"], team["bob"], team["owner"]
    r = bob.post("/logout", data={"csrf": csrf_of(bob.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303 and bob.get("/", follow_redirects=False).status_code == 401
    key = "ana lima"
    r = owner.post(f"/team/{key}/revoke", data={"csrf": csrf_of(owner.get("/team").text)}, follow_redirects=True)
    assert "revoked" in r.text
    assert ana.get("/", follow_redirects=False).status_code == 401
    r = run_qtgen("studio", "team", cwd=team["site"])
    assert r.returncode == 0 and "Ana Lima" not in r.stdout and "Bob Reis" in r.stdout


def _routes(app):
    from starlette.applications import Starlette

    while not isinstance(app, Starlette):
        app = app.app
    unchecked = [r.path for r in app.routes if not hasattr(getattr(r, "endpoint", None), "role")]
    assert sorted(unchecked) == ["/favicon.ico", "/katex", "/static"]  # files: a session, but no role, needed
    return [r for r in app.routes if hasattr(getattr(r, "endpoint", None), "role")]


def test_every_route_checks_the_role_server_side(team):
    from qtgen.team.accounts import PUBLISHER

    ana, owner, new = team["ana"], team["owner"], team["new"]
    routes = _routes(owner.app)
    assert len(routes) >= 18
    anonymous = new()
    csrf = csrf_of(ana.get("/").text)
    seen = []
    routes.sort(key=lambda r: r.path == "/logout")  # logging out last: it ends Ana's session
    for r in routes:
        path = r.path.replace("{draft_id}", "0123456789abcdef").replace("{job_id}", "x").replace(
            "{lot}", "none").replace("{code}", "nothing").replace("{key}", "bob lima").replace(
            "{upload_id}", "0123456789abcdef").replace("{run_id}", "none")
        for method in sorted(r.methods - {"HEAD"}):
            answer = ana.request(method, path, data={"csrf": csrf}, follow_redirects=False)
            seen.append((method, r.path, r.endpoint.role))
            if r.endpoint.role == PUBLISHER:
                assert answer.status_code == 403 and "needs a publisher" in answer.text, (method, path)
            else:
                assert answer.status_code != 403, (method, path, answer.text)
            if r.endpoint.role is not None:
                refused = anonymous.request(method, path, data={"csrf": csrf}, follow_redirects=False)
                assert refused.status_code in (401, 403), (method, path)
    assert ("POST", "/approve", PUBLISHER) in seen and ("POST", "/team/invite", PUBLISHER) in seen
    for path in ("/favicon.ico", "/static/studio.js", "/katex/katex.min.css"):
        assert anonymous.get(path).status_code == 401 and team["bob"].get(path).status_code in (200, 204)
    assert ana.get("/", follow_redirects=False).status_code == 401  # /logout, called last, ended her session


def test_csrf_tokens_belong_to_one_session(team):
    ana, bob = team["ana"], team["bob"]
    ids = draft_ids(ana)
    bobs = csrf_of(bob.get("/").text)
    r = ana.post(f"/draft/{ids[0]}/reject", data={"csrf": bobs, "reason": "forged"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert ids[0] in draft_ids(ana)


def test_claims_refuse_the_second_person_and_the_queue_shows_them(team):
    ana, bob = team["ana"], team["bob"]
    draft = draft_ids(ana)[0]
    page = ana.get(f"/draft/{draft}?edit=1").text
    assert 'data-claimed="1"' in page
    base = re.search(r'name="base" value="([0-9a-f]{64})"', page).group(1)
    seen_by_bob = bob.get(f"/draft/{draft}?edit=1").text
    assert "Ana Lima is editing it" in seen_by_bob and 'data-claimed="1"' not in seen_by_bob
    queue = bob.get("/").text
    assert "Ana Lima is editing" in queue
    assert draft in ana.get("/?mine=1").text and draft not in bob.get("/?mine=1").text
    csrf = csrf_of(seen_by_bob)
    r = bob.post(f"/draft/{draft}/edit", data={"csrf": csrf, "base": base, "description": "x" * 120,
                                               "keywords": "a, b, c", "answer": "Bob's text."})
    assert r.status_code == 409 and "Ana Lima is editing it" in r.text and "Bob&#39;s text." in r.text
    r = bob.post("/approve", data={"csrf": csrf, "id": draft}, follow_redirects=True)
    assert "not approved" in r.text and "Ana Lima is editing it" in r.text
    r = bob.post(f"/draft/{draft}/reject", data={"csrf": csrf, "reason": "no"}, follow_redirects=True)
    assert "not rejected" in r.text
    # the claim lapses after its hold: Bob may go on
    team["clock"].now += 21 * 60
    assert 'data-claimed="1"' in bob.get(f"/draft/{draft}?edit=1").text


def test_a_save_on_a_draft_changed_meanwhile_is_refused_saying_who_changed_what(team):
    ana, bob, site = team["ana"], team["bob"], team["site"]
    draft = draft_ids(ana)[0]
    page = ana.get(f"/draft/{draft}?edit=1").text
    base = re.search(r'name="base" value="([0-9a-f]{64})"', page).group(1)
    description = re.search(r'name="description" value="([^"]+)"', page).group(1)
    keywords = re.search(r'name="keywords" value="([^"]+)"', page).group(1)
    answer = re.search(r'<textarea name="answer" rows="18">(.*?)</textarea>', page, re.S).group(1)
    import html

    fields = {"description": html.unescape(description), "keywords": html.unescape(keywords),
              "answer": html.unescape(answer).replace("In summary", "To sum up")}
    # Ana saves once (her claim), then another tab of hers, opened before that save, saves on the old bytes
    r = ana.post(f"/draft/{draft}/edit", data={"csrf": csrf_of(page), "base": base, **fields}, follow_redirects=True)
    assert "saved" in r.text
    r = ana.post(f"/draft/{draft}/edit", data={"csrf": csrf_of(page), "base": base, **fields,
                                               "answer": fields["answer"] + "\n\nMore."})
    assert r.status_code == 409 and "changed since you opened it" in r.text and "edit (studio) by Ana Lima" in r.text
    history = run_qtgen("history", next((site / "drafts").glob("*/*.md")).relative_to(site / "drafts"), cwd=site)
    assert history.returncode == 0
    found = [p for p in (site / "drafts").glob("*/*.md") if "To sum up" in p.read_text()]
    r = run_qtgen("history", "--json", str(found[0].relative_to(site / "drafts")), cwd=site)
    rows = json.loads(r.stdout)
    assert rows[-1]["by"] == "Ana Lima <ana@example.org>" and rows[-1]["made_by"] == "edit (studio)"
    shown = run_qtgen("show", str(found[0].relative_to(site / "drafts")), cwd=site)
    assert "edit (studio) by Ana Lima <ana@example.org>" in " ".join(shown.stdout.split())


def test_approve_is_attributed_and_two_publishers_make_one_commit(team):
    bob, owner, ana, site = team["bob"], team["owner"], team["ana"], team["site"]
    draft = next(i for i in draft_ids(bob) if "kinetic" in bob.get(f"/draft/{i}").text.lower())
    page_bob, page_owner = bob.get(f"/draft/{draft}").text, owner.get(f"/draft/{draft}").text
    before = git(site, "rev-list", "--count", "HEAD")
    r = bob.post("/approve", data={"csrf": csrf_of(page_bob), "id": draft, "allow_warnings": "1",
                                   "base": re.search(r'name="base" value="([0-9a-f]{64})"', page_bob).group(1)},
                 follow_redirects=True)
    assert "approved 1 draft(s)" in r.text, re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', r.text)
    r = owner.post("/approve", data={"csrf": csrf_of(page_owner), "id": draft, "allow_warnings": "1"},
                   follow_redirects=True)
    assert "approved by Bob Reis" in r.text and "commit " in r.text
    assert int(git(site, "rev-list", "--count", "HEAD")) == int(before) + 1
    message = git(site, "log", "-1", "--format=%B")
    assert "Reviewed-by: Bob Reis <bob@example.org>" in message
    assert git(site, "log", "-1", "--format=%cn").strip() == "Tester"  # qtgen's committer beside the reviewer
    r = run_qtgen("provenance", "--json", "content/learn", cwd=site)
    assert any(json.loads(line)["reviewed_by"] == "Bob Reis <bob@example.org>" for line in r.stdout.splitlines())
    # the gone draft's address says what became of it
    assert "approved by Bob Reis" in ana.get(f"/draft/{draft}").text
    # a reject is attributed in its reason file, and a CLI approve names the checkout's person
    other = draft_ids(ana)[0]
    ana.post(f"/draft/{other}/reject", data={"csrf": csrf_of(ana.get("/").text), "reason": "off topic"})
    note = json.loads(next((site / "drafts" / "rejected").glob("*/*.reason.json")).read_text())
    assert note["by"] == "Ana Lima <ana@example.org>"
    name = str(next((site / "drafts").glob("economics/what-is-a-*.md")).relative_to(site / "drafts"))
    assert run_qtgen("approve", "--allow-warnings", name, cwd=site).returncode == 0
    assert "Reviewed-by: Tester <t@example.com>" in git(site, "log", "-1", "--format=%B")


def test_a_question_list_uploaded_is_checked_drafted_in_the_background_and_resumed(site_with_drafts):
    from qtgen.team.person import Person

    with FakeOpenAI() as server:
        environ = {"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-test"}
        owner, studio = studio_client(site_with_drafts, environ=environ)
        csrf = csrf_of(owner.get("/lists").text)
        text = ("question,subject\nWhat is inflation?,Economics\n,Economics\nWhat is deflation?,Economics\n"
                "\"broken,Economics\n")
        r = owner.post("/lists", data={"csrf": csrf, "name": "week 12.csv", "text": text})
        assert r.status_code == 200 and "2 question(s), 2 bad line(s)" in r.text
        assert len(re.findall(r"<li>line \d+:", r.text)) == 2
        start = re.search(r'action="(/lists/[0-9a-f]{16}/start)"', r.text).group(1)
        r = owner.post(start, data={"csrf": csrf}, follow_redirects=False)
        run_page = r.headers["location"]
        assert re.fullmatch(r"/runs/[\w-]+", run_page)
        for _ in range(300):
            page = owner.get(run_page).text
            if 'id="run-state">done' in page:
                break
            time.sleep(0.1)
        assert 'id="run-state">done' in page and "2 drafted" in page and "uploaded by Tester" in page
        assert "What is inflation?" in owner.get("/").text
        # the same page tomorrow, from another studio process: the run keeps its address
        again, _ = studio_client(site_with_drafts, environ=environ)
        assert "2 drafted" in again.get(run_page).text
        # a run the studio left running (it was stopped) is resumed by the next studio
        path = studio.uploads.check("more.txt", b"What is stagflation?\n", "Economics").path
        from qtgen.batch.options import Options
        from qtgen.batch.run import Batch
        from qtgen.team.board import Board

        with Batch(studio.config) as job:
            prepared = job.prepare(path, Options(subject="Economics"), given={"subject": "Economics"})
        with Board(studio.config) as board:
            board.uploaded(prepared.run_id, str(path), "more.txt", Person("Ana Lima", "ana@example.org"))
        later, state = studio_client(site_with_drafts, environ=environ)
        assert prepared.run_id in state.uploads.resume()
        for _ in range(300):
            if 'id="run-state">done' in later.get(f"/runs/{prepared.run_id}").text:
                break
            time.sleep(0.1)
        assert "What is stagflation?" in later.get("/").text
        assert "uploaded by Ana Lima" in later.get(f"/runs/{prepared.run_id}").text


def test_invite_from_the_terminal_prints_the_link_alone(site_with_drafts):
    r = run_qtgen("studio", "invite", "Dee Rocha", "dee@example.org", "--role", "writer", "--url",
                  "https://studio.example.org/", cwd=site_with_drafts)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"https://studio\.example\.org/invite/[\w-]{43}\n", r.stdout)
    bad = run_qtgen("studio", "invite", "Dee", "not-an-address", "--role", "writer", cwd=site_with_drafts)
    assert bad.returncode != 0 and "not an e-mail address" in bad.stderr and "Traceback" not in bad.stderr
    role = run_qtgen("studio", "invite", "Dee", "d@example.org", "--role", "admin", cwd=site_with_drafts)
    assert role.returncode == 2 and "Traceback" not in role.stderr
    client, _ = studio_client(site_with_drafts)
    page = client.get(r.stdout.strip().removeprefix("https://studio.example.org"))
    assert page.status_code == 200 and "Welcome, Dee Rocha" in page.text and "writer" in page.text
