"""`qtgen studio` in a real browser: Chromium (Debian's package) driven by Playwright, against a real
`qtgen studio` process over a real git site. Skipped, saying why, where there is no Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from qtgen.format.reader import read
from qtgen.format.writer import render

from conftest import REPO, clean_env, git, init_repo, run_qtgen
from fake_openai import FakeOpenAI

CHROMIUM = os.environ.get("QTGEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "tests" / "artifacts"

MATH = ("Kinetic energy is $E_k = \\frac{1}{2} m v^2$ for a body of mass $m$.\\n\\n"
        "$$\\n\\int_0^1 x^2 \\, dx = \\frac{1}{3}\\n$$\\n\\n"
        "1. **Mass**: more mass, more energy, as every student of physics can check with a simple experiment.\\n"
        "2. **Speed**: energy grows with the square of the speed, which is why fast vehicles are dangerous.\\n\\n"
        "In summary, kinetic energy depends on mass and on the square of speed.")
EVIL = ("Look: <script>window.__pwned = 1</script> and <img src=x onerror=\\\"window.__pwned = 2\\\">.\\n\\n"
        "[click](javascript:window.__pwned=3)\\n\\nIn summary, nothing runs.")



@pytest.fixture
def site_with_drafts(site) -> Path:
    init_repo(site)
    with FakeOpenAI() as server:
        env = clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")
        for q, s in (("What is kinetic energy?", "Physics"), ("What is a tariff?", "Economics"),
                     ("What is a quota?", "Economics"), ("What is an embargo?", "Economics")):
            r = run_qtgen("draft", q, "-s", s, cwd=site, env=env)
            assert r.returncode == 0, r.stderr
    for name, answer in (("physics/what-is-kinetic-energy.md", MATH), ("economics/what-is-an-embargo.md", EVIL)):
        path = site / "drafts" / name
        path.write_text(render(read(path).model_copy(update={"answer": answer})))
    return site


HELD = {"arrived": None, "release": None}  # set both to threading.Events to hold the model's next answers


def _held_reply(question, subject, body):
    from fake_openai import house_answer

    if HELD["arrived"] is not None:
        HELD["arrived"].set()
        HELD["release"].wait(60)
    return house_answer(question, subject)


@pytest.fixture
def model():
    with FakeOpenAI(latency=0.5, reply=_held_reply) as server:
        yield server
    HELD.update(arrived=None, release=None)


@pytest.fixture
def studio(site_with_drafts, model):
    env = clean_env(site_with_drafts, OPENAI_BASE_URL=model.url, OPENAI_API_KEY="sk-test")
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "studio", "--no-open", "--port", "0"], cwd=site_with_drafts,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and "?login=" in url, proc.stderr.read() if proc.poll() else url
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # up once it answers (401 without the cookie); the login stays unused
        try:
            urllib.request.urlopen(url.split("?")[0] + "favicon.ico", timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    yield url, site_with_drafts, proc
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture
def browser():
    if not CHROMIUM:
        pytest.skip("no Chromium: apt-get install -y chromium (CI installs it), or set QTGEN_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def _no_redirects():
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    return urllib.request.build_opener(Keep)


def test_every_route_needs_the_cookie_and_every_action_csrf(studio):
    url, site, _ = studio
    base = url.split("/?")[0]
    for path in ("/", "/draft/x", "/static/studio.js", "/katex/katex.min.css", "/jobs/x"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + path)
        assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as err:  # a guessed login code is nothing
        urllib.request.urlopen(base + "/?login=" + "wrong" + url.split("login=")[1])
    assert err.value.code == 401
    # the printed login URL sets the session cookie once; the same URL is worthless afterwards
    with pytest.raises(urllib.error.HTTPError) as err:
        _no_redirects().open(url)
    assert err.value.code == 303
    cookie = err.value.headers["set-cookie"].split(";")[0]
    assert "login=" not in err.value.headers["location"] and url.split("login=")[1] not in cookie
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url)
    assert err.value.code == 401 and "already used" in err.value.read().decode()
    assert urllib.request.urlopen(urllib.request.Request(base + "/", headers={"Cookie": cookie})).status == 200
    req = urllib.request.Request(base + "/approve", data=b"id=x", method="POST", headers={"Cookie": cookie})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 403
    # DNS rebinding: another name for the same address is not served, cookie or not
    port = base.rsplit(":", 1)[1]
    req = urllib.request.Request(base + "/", headers={"Cookie": cookie, "Host": f"attacker.example:{port}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 421
    req = urllib.request.Request(base + "/", headers={"Cookie": cookie, "Host": f"localhost:{port}"})
    assert urllib.request.urlopen(req).status == 200


def test_a_non_loopback_host_needs_allow_remote(site):
    r = run_qtgen("studio", "--no-open", "--host", "0.0.0.0", "--port", "0", cwd=site)
    assert r.returncode == 2 and "--allow-remote" in r.stderr and r.stdout == ""


def test_review_in_the_browser(studio, browser):
    url, site, _ = studio
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    assert "login=" not in page.url  # the cookie holds the session; the link is spent
    assert page.locator("tr.row").count() == 4
    # open the draft with math: KaTeX markup, display math, the search preview
    page.get_by_role("link", name="What is kinetic energy?").click()
    page.wait_for_selector("main.draft")
    assert page.locator("#answer .katex").count() >= 2, page.locator("main").inner_text()[:2000] and page.locator("#answer .katex-display").count() == 1
    assert page.locator(".serp-title").inner_text().startswith("Student Question : What is kinetic energy?")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-draft.png"), full_page=True)

    # approve with the button: one commit holding exactly that page
    page.get_by_label("allow warnings").check()  # a short test answer: QT001 warns
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".flash")
    assert page.locator(".flash.ok").count() == 1, page.locator("body").inner_text()[:1500]
    assert "approved 1 draft" in page.locator(".flash.ok").inner_text()
    assert git(site, "show", "--name-status", "--format=", "HEAD").split() == [
        "A", "content/learn/physics/what-is-kinetic-energy.md"]
    # the reviewer goes on to the next draft waiting, not back to the top of the queue
    assert page.locator("main.draft").count() == 1 and "What is kinetic energy?" not in page.locator("h1").inner_text()
    page.get_by_role("link", name="queue").click()
    page.wait_for_selector("tr.row")
    assert page.locator("tr.row").count() == 3

    # reject with the keyboard: j to the row, Enter to open, r then type the reason
    rows = page.locator("tr.row")
    target = next(i for i in range(rows.count()) if "What is a quota?" in rows.nth(i).inner_text())
    page.locator("h1").click()  # the keyboard goes to the page, not to the button clicked before
    for _ in range(target):
        page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_selector("main.draft")
    page.locator("h1").click()
    page.keyboard.press("r")
    page.keyboard.type("Too close to the tariff page")
    page.keyboard.press("Enter")
    page.wait_for_selector(".flash")
    assert page.locator(".flash.ok").count() == 1, page.locator("body").inner_text()[:1000]
    assert (site / "drafts/rejected/economics/what-is-a-quota.md").is_file()
    assert not (site / "drafts/economics/what-is-a-quota.md").exists()
    assert page.locator("main.draft").count() == 1 and "What is a quota?" not in page.locator("h1").inner_text()
    page.get_by_role("link", name="queue").click()
    page.wait_for_selector("tr.row")

    # edit and save, with the live preview
    page.get_by_role("link", name="What is a tariff?").click()
    page.wait_for_selector("main.draft")
    page.get_by_role("button", name="Edit").click()
    area = page.locator("#edit-panel textarea")
    area.fill("A tariff is a tax on imports, such as $t = 0.1 p$.\n\n1. **Price**: it raises prices.\n\n"
              "In summary, a tariff taxes imports.")
    page.wait_for_selector("#live-preview .katex")
    page.locator("#edit-panel").get_by_role("button", name="Save").click()
    page.wait_for_selector(".flash.ok")
    saved = read(site / "drafts/economics/what-is-a-tariff.md")
    assert saved.answer.startswith("A tariff is a tax on imports, such as $t = 0.1 p$.\\n\\n1. **Price**")
    assert page.locator("#answer .katex").count() == 1

    # regenerate with feedback: it runs in the background with progress, then the page shows the new version
    page.get_by_placeholder("what should change").fill("Give an example from trade policy")
    page.get_by_role("button", name="Regenerate").click()
    page.wait_for_selector("#job")  # progress while the model answers
    page.wait_for_selector("#job", state="detached", timeout=30000)
    page.wait_for_selector("ol.versions li:nth-child(3)")
    assert "Give an example from trade policy" in page.locator("ol.versions").inner_text()
    assert "central question" in page.locator("#answer").inner_text()  # the model's new answer

    # a draft whose answer holds <script> and an onerror image runs nothing
    page.goto(url.split("/?")[0] + "/")
    page.get_by_role("link", name="What is an embargo?").click()
    page.wait_for_selector("main.draft")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned === undefined")
    assert "<script>window.__pwned = 1</script>" in page.locator("#answer").inner_text()
    assert page.locator("#answer script").count() == 0 and page.locator("#answer img").count() == 0
    assert dialogs == [] and errors == []


def test_ctrl_c_stops_the_studio(studio):
    _, _, proc = studio
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0  # a requested stop is not an error
    err = proc.stderr.read()
    assert "studio stopped" in err and "error" not in err


def test_bad_tokens_big_bodies_and_injected_lines_are_refused_cleanly(site_with_drafts):
    from conftest import studio_client

    client, _ = studio_client(site_with_drafts)
    assert client.get("/?login=%C3%A9", follow_redirects=False).status_code == 303  # logged in: the page, no login
    client.cookies.clear()
    assert client.get("/?login=%C3%A9").status_code == 401
    client, _ = studio_client(site_with_drafts)
    csrf = client.get("/").text.split('name="csrf-token" content="')[1].split('"')[0]
    assert client.post("/approve", headers={"X-CSRF-Token": b"\xc3\xa9"}, content=b"id=x").status_code == 403
    assert client.post("/approve", headers={"X-CSRF-Token": csrf, "Content-Length": "9000000"},
                       content=b"x" * 9_000_000).status_code == 413
    import re

    draft_id = re.search(r'href="/draft/([0-9a-f]+)"', client.get("/").text).group(1)
    path = {p.name: p for p in (site_with_drafts / "drafts").glob("*/*.md")}
    before = {name: p.read_bytes() for name, p in path.items()}
    r = client.post(f"/draft/{draft_id}/edit", headers={"X-CSRF-Token": csrf}, data={
        "description": "A tariff is a tax on imports that raises prices for households.\n---\nhijacked answer",
        "keywords": "tariff, tax, imports, trade, prices", "answer": "Tariffs tax imports.\n\nIn summary, yes."},
        follow_redirects=False)
    changed = [name for name, p in path.items() if p.read_bytes() != before[name]]
    for name in changed:
        page = read(path[name])
        assert "\n" not in page.seo.page_description and "hijacked" not in page.answer
    assert r.status_code in (303, 422)


def _login(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    return page


def test_a_drafts_markup_cannot_act_on_the_reviewer(studio, browser):
    from test_render import HOSTILE

    url, site, _ = studio
    path = site / "drafts/economics/what-is-a-quota.md"
    path.write_text(render(read(path).model_copy(update={"answer": HOSTILE.replace("\n", "\\n")})))
    head = git(site, "rev-parse", "HEAD")
    page = _login(browser, url)
    page.get_by_role("link", name="What is a quota?").click()
    page.wait_for_selector("main.draft")
    draft_url = page.url
    page.wait_for_timeout(500)  # a refresh with delay 0 would have left by now
    assert page.url == draft_url  # no <meta http-equiv=refresh> from a footnote label
    for selector in ("#answer button", "#answer [form]", "#answer meta", "#answer svg[onload]", "#answer [style*=fixed]"):
        assert page.locator(selector).count() == 0, selector
    assert page.locator(".findings li.err", has_text="QT023").count() == 1  # the reviewer is told
    # what lies under the Reject button is the Reject button, not an invisible one of the draft's
    box = page.get_by_role("button", name="Reject").bounding_box()
    under = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('#reject-form') !== null",
                          [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert under
    page.get_by_role("button", name="Reject").click()  # with no reason: the browser asks for one; nothing sent
    assert git(site, "rev-parse", "HEAD") == head and path.is_file()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-hostile-draft.png"), full_page=True)


def test_approve_refuses_a_draft_being_regenerated_then_publishes_what_it_checked(studio, browser):
    import threading

    url, site, _ = studio
    HELD.update(arrived=threading.Event(), release=threading.Event())
    page = _login(browser, url)
    page.get_by_role("link", name="What is a tariff?").click()
    page.wait_for_selector("main.draft")
    page.get_by_placeholder("what should change").fill("Give an example")
    page.get_by_role("button", name="Regenerate").click()
    assert HELD["arrived"].wait(30)  # the model is writing the new answer
    page.get_by_label("allow warnings").check()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".flash.err")
    assert "being regenerated" in page.locator(".flash.err").inner_text()
    assert not (site / "content/learn/economics/what-is-a-tariff.md").exists()
    HELD["release"].set()
    page.wait_for_selector("#job", state="detached", timeout=30000)
    checked = (site / "drafts/economics/what-is-a-tariff.md").read_bytes()
    page.get_by_label("allow warnings").check()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".flash.ok")
    assert (site / "content/learn/economics/what-is-a-tariff.md").read_bytes() == checked
    assert git(site, "show", "HEAD:content/learn/economics/what-is-a-tariff.md").encode() == checked


def test_a_chunked_body_is_cut_off_at_the_limit(site_with_drafts):
    import asyncio

    from qtgen.config import load
    from qtgen.studio.app import MAX_BODY, Studio, create_app

    studio = Studio(load(cwd=site_with_drafts, environ={}))
    app = create_app(studio.config, studio=studio)
    session = studio.owner_session()
    sent = {"chunks": 0}

    async def receive():
        sent["chunks"] += 1
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": sent["chunks"] < 50}

    answers = []

    async def send(message):
        answers.append(message)

    scope = {"type": "http", "method": "POST", "path": "/approve", "raw_path": b"/approve", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:9"), (b"cookie", f"qtgen_studio_9={session}".encode()),
                         (b"transfer-encoding", b"chunked")],
             "scheme": "http", "server": ("127.0.0.1", 9), "client": ("127.0.0.1", 5), "http_version": "1.1",
             "root_path": "", "asgi": {"version": "3.0"}}
    asyncio.run(app(scope, receive, send))
    assert answers[0]["status"] == 413
    assert sent["chunks"] <= MAX_BODY // 1_000_000 + 1  # it stopped reading at the limit, not after 50 MB


def test_keys_buttons_and_panels_a_reviewer_can_use(studio, browser):
    url, site, _ = studio
    path = site / "drafts/economics/what-is-a-tariff.md"
    page_ = read(path)
    long_line = "A very long line of the answer that goes on " * 12 + "and ends."
    from qtgen.drafts.folder import DraftStore
    from qtgen.config import load

    DraftStore(load(cwd=site, environ={}), migrate=False).history(path).save(
        render(page_.model_copy(update={"answer": page_.answer + "\\n\\n" + long_line})), "edit")
    page = _login(browser, url)
    rows = page.locator("tr.row")
    target = next(i for i in range(rows.count()) if "What is a tariff?" in rows.nth(i).inner_text())
    page.locator("h1").click()
    for _ in range(target):
        page.keyboard.press("j")
    page.keyboard.press("r")  # on the queue: straight to that draft's reject box
    page.wait_for_selector("main.draft")
    assert "What is a tariff?" in page.locator("h1").inner_text()
    assert page.evaluate("document.activeElement && document.activeElement.id") == "reason"
    style = lambda sel, prop: page.eval_on_selector(sel, f"e => getComputedStyle(e).{prop}")  # noqa: E731
    assert style("#approve", "backgroundColor") == "rgb(21, 128, 61)"  # the primary action
    reject = "#reject-form button"
    assert style(reject, "color") == "rgb(185, 28, 28)" and style(reject, "borderTopColor") == "rgb(185, 28, 28)"
    assert style("#approve", "backgroundColor") != style(reject, "backgroundColor")
    page.focus("#approve")  # reachable and visibly focused from the keyboard
    assert page.evaluate("document.activeElement.id") == "approve"
    assert style("#approve", "outlineStyle") != "none"
    assert style("pre.diff", "whiteSpace") == "pre-wrap"
    assert page.eval_on_selector("pre.diff", "e => e.scrollWidth <= e.clientWidth + 1")  # long lines wrap
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio-restyled.png"), full_page=False)


def test_a_request_waiting_for_a_lock_never_stalls_the_others(studio, tmp_path):
    import re
    import threading

    from test_approve import WRAPPER, REAL_GIT

    url, site, _ = studio
    base = url.split("/?")[0]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    queue = opener.open(url).read().decode()  # the login sets the cookie
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', queue).group(1)
    quota = re.search(r'href="/draft/([0-9a-f]+)">What is a quota\?', queue).group(1)
    # a CLI approval holds the site's locks, stopped at git commit
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(WRAPPER.replace("{git}", REAL_GIT))
    (bin_dir / "git").chmod(0o755)
    hold = tmp_path / "hold"
    with FakeOpenAI() as server:
        env = clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test", KILL_AT="commit",
                        HOLD_FILE=str(hold), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        cli = subprocess.Popen([sys.executable, "-m", "qtgen", "approve", "what-is-a-tariff", "--allow-warnings"],
                               cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not Path(f"{hold}.reached").exists():
                assert cli.poll() is None and time.monotonic() < deadline, cli.stderr.read() if cli.poll() else ""
                time.sleep(0.05)
            done = {}

            def reject():  # waits for the drafts lock the CLI holds
                req = urllib.request.Request(f"{base}/draft/{quota}/reject", data=f"csrf={csrf}&reason=dup".encode(),
                                             method="POST")
                done["status"] = opener.open(req, timeout=120).status

            waiting = threading.Thread(target=reject)
            waiting.start()
            for _ in range(3):  # meanwhile every other page answers
                assert opener.open(base + "/", timeout=30).status == 200
            assert "status" not in done and cli.poll() is None  # the reject is still waiting for its turn
        finally:
            hold.write_text("")
        assert cli.wait(60) == 0, cli.stderr.read()
        waiting.join(60)
    assert done.get("status") == 200 and (site / "drafts/rejected/economics/what-is-a-quota.md").is_file()


def test_a_long_queue_comes_in_pages_with_its_counts(studio, browser):
    url, site, _ = studio
    from qtgen.format.slug import file_name_for, url_for

    template = read(site / "drafts/economics/what-is-a-tariff.md")
    for n in range(120):  # 124 drafts in all: two pages of the queue
        question = f"What shaped world trade in the year {1800 + n}?"
        page = template.model_copy(update={"id": 500 + n, "question": question, "title": question,
                                           "article_title": question, "subject": "History",
                                           "seo": template.seo.model_copy(update={"title": "QuickTakes | History"}),
                                           "file_name": file_name_for(question), "url": url_for(question, "History")})
        path = site / "drafts" / "history" / page.file_name
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(page))
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(url)
    assert tab.locator("h1").inner_text() == "124 draft(s) waiting"
    assert tab.locator("tr.row").count() == 100 and "showing 1–100" in tab.locator(".counts").inner_text()
    assert tab.locator(".pager").count() == 2 and tab.locator("a[rel=prev]").count() == 0  # above and below
    assert all("page 1 of 2" in t for t in tab.locator(".pager").all_inner_texts())
    tab.locator("a[rel=next]").click()
    tab.wait_for_url("**page=2**")
    assert tab.locator("tr.row").count() == 24 and "page 2 of 2" in tab.locator(".pager").last.inner_text()
    # the filters stay with the pages: only Economics fits on one page
    tab.goto(url.split("/?")[0] + "/?subject=Economics&page=2")
    assert tab.locator("h1").inner_text() == "3 draft(s) waiting" and tab.locator(".pager").count() == 0
    assert tab.locator("tr.row").count() == 3
    tab.goto(url.split("/?")[0] + "/?page=99")  # past the end: the last page
    assert tab.locator("tr.row").count() == 24
    tab.locator("tr.row a").first.click()
    tab.wait_for_selector("main.draft")
    assert tab.locator("h1").first.inner_text().startswith("What shaped world trade in the year")
    ARTIFACTS.mkdir(exist_ok=True)
    tab.goto(url.split("/?")[0] + "/?page=2")
    tab.screenshot(path=str(ARTIFACTS / "studio-queue-pages.png"), full_page=True)


def test_the_studio_keeps_one_index_and_its_own_actions_refresh_it(site_with_drafts):
    from qtgen.config import load
    from qtgen.studio.app import Studio

    studio = Studio(load(cwd=site_with_drafts))
    try:
        index = studio.index()
        before = len(index.entries())
        assert studio.index() is index  # one index for the studio's life
        source = site_with_drafts / "drafts/economics/what-is-a-tariff.md"
        copy = site_with_drafts / "drafts/economics/what-is-a-quota-rent.md"
        copy.write_text(source.read_text().replace("What is a tariff?", "What is a quota rent?"))
        studio.index_changed()  # as an action does: refreshed before the page it leads to
        assert len(studio.index().entries()) == before + 1
        assert any(e.question == "What is a quota rent?" for e in studio.index().entries())
    finally:
        studio.close()


def test_the_judges_grades_in_the_queue_and_its_quotes_marked_in_the_page(studio, browser, model):
    url, site, _ = studio
    env = clean_env(site, OPENAI_BASE_URL=model.url, OPENAI_API_KEY="sk-test")
    false = "The model sun_path says the Sun orbits the Earth once a year."  # an underscore in the quote, as printed
    tariff = site / "drafts/economics/what-is-a-tariff.md"
    page_ = read(tariff)
    tariff.write_text(render(page_.model_copy(update={"answer": page_.answer.replace(
        "In summary,", f"Tariffs matter. {false}\\n\\nIn summary,")})))
    embargo = site / "drafts/economics/what-is-an-embargo.md"
    embargo.write_text(embargo.read_text().replace(
        "In summary, nothing runs.", 'To heal, drink bleach <img src=x onerror=\\"window.__pwned = 4\\">.\\n\\nIn summary, nothing runs.'))
    r = run_qtgen("judge", "--all", cwd=site, env=env)
    assert r.returncode == 0, r.stderr
    tab = _login(browser, url)
    tab.goto(url.split("?")[0] + "?sort=risk")
    rows = tab.locator("table.queue tbody tr")
    assert rows.nth(0).locator("td").nth(2).inner_text().startswith("What is an embargo?")
    assert rows.nth(0).locator(".badge.judge-reject").count() == 1
    assert rows.nth(1).locator(".badge.judge-revise").inner_text().startswith("revise")
    tab.goto(url.split("?")[0] + "?verdict=pass")
    assert tab.locator("table.queue tbody tr").count() == 2
    tab.goto(url.split("?")[0])
    tab.get_by_role("link", name="What is a tariff?").click()
    tab.wait_for_selector("main.draft")
    assert tab.locator("#verdict").inner_text().startswith("revise")
    marks = tab.locator("#answer mark.judge-mark")
    marks.first.wait_for()  # the studio's script marks the quotes once the page is in: waited for, not raced
    assert marks.count() == 1 and marks.first.inner_text() == false
    marks.first.focus()
    shown = tab.evaluate("() => getComputedStyle(document.querySelector('mark.judge-mark'), '::after').content")
    assert "the sun orbits the earth, which is false" in shown  # the problem, on focus (and hover)
    assert "test-model at 127.0.0.1" in tab.locator(".versions .provenance").first.inner_text()  # what made it
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "studio-judge.png"), full_page=True)
    # a quote carrying markup is shown as text, never run
    tab.goto(url.split("?")[0])
    tab.get_by_role("link", name="What is an embargo?").click()
    tab.wait_for_selector("main.draft")
    assert tab.locator("#issues li.critical").count() == 1 and "onerror" in tab.locator("#issues").inner_text()
    assert tab.evaluate("() => window.__pwned") is None
    # the audit queue: a lot's sampled drafts still waiting, with where the audit stands
    r = run_qtgen("audit", "econ-1", "--subject", "Economics", "--confidence", "0.5", "--max-defect", "0.5", cwd=site,
                  env=env)
    assert r.returncode == 0, r.stderr
    tab.goto(url.split("?")[0] + "?lot=econ-1")
    assert "Audit of lot econ-1" in tab.locator("#audit").inner_text()
    assert [t.strip() for t in tab.locator("table.queue tbody tr td:nth-child(3)").all_inner_texts()] == ["What is a quota?"]


def test_the_studio_reads_its_queue_before_it_gives_its_address(site_with_drafts):
    """`qtgen studio` warms up before it prints its login URL: the site index, its model and every draft's findings
    (kept in the drafts folder), so the first page the browser asks for reads them instead of checking each draft
    beside the warm-up."""
    import json
    import sqlite3

    kept = site_with_drafts / "drafts" / ".qtgen" / "assessments.sqlite"

    def questions() -> list[str]:
        if not kept.exists():
            return []
        with sqlite3.connect(kept) as db:
            return sorted(json.loads(data)["question"] for (data,) in db.execute("SELECT data FROM assessments"))

    assert questions() == []  # drafted, never listed
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "studio", "--no-open", "--port", "0"],
                            cwd=site_with_drafts, env=clean_env(site_with_drafts), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert "?login=" in url
        assert questions() == sorted(["What is kinetic energy?", "What is a tariff?", "What is a quota?",
                                      "What is an embargo?"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_links_search_phone_widths_and_regeneration_banners(studio, browser, model):
    """A draft keeps its address across restarts; the queue searches; queue and draft fit a 390 px phone; a
    regeneration's end is shown once (a reload shows the draft as it is), and one that brings the same text says so."""
    import re

    from qtgen.config import load
    from qtgen.studio.state import Studio

    url, site, _ = studio
    base = url.split("/?")[0]
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(url)
    tariff_link = tab.get_by_role("link", name="What is a tariff?").get_attribute("href")
    assert re.fullmatch(r"/draft/[0-9a-f]{16}", tariff_link) and "tariff" not in tariff_link
    # another studio process (another token) gives the draft the same address: links can be shared and kept
    config = load(cwd=site, environ={})
    other = Studio(config)
    assert f"/draft/{other.draft_id(site / 'drafts/economics/what-is-a-tariff.md')}" == tariff_link
    key = config.state(Studio.LINK_KEY)
    assert key.stat().st_mode & 0o077 == 0  # the key is the reviewer's alone

    # search: every word, any case, in the question, subject or file name
    tab.get_by_label("search the queue").fill("TARIFF what")
    tab.get_by_role("button", name="Filter").click()
    tab.wait_for_url("**q=**")
    assert [t.strip() for t in tab.locator("tr.row td.c-question a").all_inner_texts()] == ["What is a tariff?"]
    tab.get_by_label("search the queue").fill("economics")
    tab.get_by_role("button", name="Filter").click()
    tab.wait_for_load_state()
    assert tab.locator("tr.row").count() == 3
    tab.goto(base + "/?q=photosynthesis")
    assert "No waiting draft matches" in tab.locator("table.queue").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    tab.goto(base + "/")
    tab.screenshot(path=str(ARTIFACTS / "studio-queue-1280.png"), full_page=True)
    tab.goto(base + tariff_link)
    tab.screenshot(path=str(ARTIFACTS / "studio-draft-1280.png"), full_page=True)

    # a phone: nothing wider than the screen, the actions and the answer within reach
    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True)
    phone_context.add_cookies(tab.context.cookies())  # the same reviewer's session, on a phone
    phone = phone_context.new_page()
    phone.goto(base + "/")
    wide = "() => document.documentElement.scrollWidth"
    assert phone.evaluate(wide) <= 390, phone.evaluate(wide)
    assert phone.locator("tr.row").count() == 4 and phone.locator("th.c-words").is_hidden()
    assert "Economics" in phone.locator("tr.row", has_text="What is a tariff?").inner_text()  # the subject, below
    phone.screenshot(path=str(ARTIFACTS / "studio-queue-390.png"), full_page=True)
    phone.goto(base + "/draft/" + other.draft_id(site / "drafts/physics/what-is-kinetic-energy.md"))
    assert phone.evaluate(wide) <= 390, phone.evaluate(wide)
    for selector in ("#approve", "#reason", "#answer"):
        box = phone.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
    phone.screenshot(path=str(ARTIFACTS / "studio-draft-390.png"), full_page=True)

    # regenerate: the end is shown once; the reload shows the draft, no banner; the same text says so
    tariff = site / "drafts/economics/what-is-a-tariff.md"
    tab.goto(base + tariff_link)
    for n in range(2):
        if n == 1:  # edited since: the model's answer is new again
            tariff.write_text(render(read(tariff).model_copy(update={"answer": read(tariff).answer + "\\n\\nAn edit."})))
        tab.get_by_placeholder("what should change").fill("Give an example from trade policy")
        tab.get_by_role("button", name="Regenerate").click()
        tab.wait_for_selector("#job-end", timeout=30000)
        assert "msg=" not in tab.url
        if n == 0:  # the model answers as it did when it drafted it
            assert "same text" in tab.locator("#job-end").inner_text()
            assert "no previous version" not in tab.locator("body").inner_text()
            assert "no change" in tab.locator("pre.diff").inner_text()
        else:
            assert tab.locator("#job-end").inner_text().startswith("regenerated;")
        tab.reload()
        assert tab.locator("#job-end").count() == 0 and tab.locator("#job").count() == 0
        assert "regenerat" not in tab.locator(".flash").all_inner_texts().__str__().lower()


def test_every_answer_carries_the_same_security_headers_whichever_guard_sent_it(site_with_drafts):
    from conftest import studio_client

    from qtgen.studio.middleware import HEADERS

    wanted = {name.decode(): value.decode() for name, value in HEADERS}
    client, _ = studio_client(site_with_drafts)
    kept = dict(client.cookies)
    client.cookies.clear()
    answers = {"no login": client.get("/")}  # the login guard
    answers["another host"] = client.get("/", headers={"Host": "attacker.example:9"})  # the host guard
    client.cookies.update(kept)
    answers["queue"] = client.get("/")
    answers["no csrf"] = client.post("/approve", content=b"id=x")  # the CSRF guard
    answers["too large"] = client.post("/approve", content=b"x" * 2_100_000)
    answers["gone"] = client.get("/draft/0123456789abcdef")  # a route's own refusal
    answers["static"] = client.get("/static/studio.css")
    assert [(k, r.status_code) for k, r in answers.items()] == [
        ("no login", 401), ("another host", 421), ("queue", 200), ("no csrf", 403), ("too large", 413),
        ("gone", 404), ("static", 200)]
    for what, r in answers.items():
        assert {k: r.headers.get(k) for k in wanted} == wanted, what
        assert len(r.headers.get_list("content-security-policy")) == 1, what  # set once, never twice
