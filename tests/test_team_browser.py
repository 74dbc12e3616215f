"""A team in real browsers: three people in separate Chromium contexts at once against one real `qtgen studio`
process over a real git site (invite, log in, claim, the second person refused, approve attributed in git, a
writer's role enforced, a list uploaded and drafted), screenshots at desktop and phone widths; and the studio
behind a real TLS reverse proxy (nginx) on loopback. Skipped, saying why, without Chromium or nginx."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import clean_env, git, run_qtgen
from fake_openai import FakeOpenAI
from test_studio import ARTIFACTS, browser, site_with_drafts  # noqa: F401 - the fixtures

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
PASSWORD = "correct horse battery"


def start_studio(site: Path, env: dict, *args: str):
    proc = subprocess.Popen([sys.executable, "-m", "qtgen", "studio", "--no-open", "--port", "0", *args], cwd=site,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert "?login=" in url, proc.stderr.read() if proc.poll() is not None else url
    return proc, url


def stop(proc) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def person(browser, width: int = 1280):
    """A browser of one person's own: its own cookies, nothing shared with the others."""
    context = browser.new_context(viewport={"width": width, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return context, page


def accept(page, url: str) -> None:
    page.goto(url)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=again]").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_selector("#who")


def test_three_people_on_one_queue(site_with_drafts, browser, tmp_path):
    site = site_with_drafts
    with FakeOpenAI() as server:
        env = clean_env(site, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-test")
        proc, url = start_studio(site, env)
        base = url.split("?")[0].rstrip("/")
        try:
            # the owner (who started it) logs in with the printed URL; Ana is invited from the terminal
            r = run_qtgen("studio", "invite", "Ana Lima", "ana@example.org", "--role", "writer", "--url", base,
                          cwd=site, env=env)
            assert r.returncode == 0, r.stderr
            ana_url = r.stdout.strip()
            owner_ctx, owner = person(browser)
            owner.goto(url)
            assert owner.locator("#who").inner_text() == "Tester (publisher)"
            # ...and Bob from the team page
            owner.get_by_role("link", name="team").click()
            owner.get_by_label("Name").fill("Bob Reis")
            owner.get_by_label("E-mail").fill("bob@example.org")
            owner.get_by_label("Role").select_option("publisher")
            owner.get_by_role("button", name="Make an invitation").click()
            bob_url = owner.locator("#invitation-url").inner_text()
            assert bob_url.startswith(base + "/invite/")
            ARTIFACTS.mkdir(exist_ok=True)
            owner.screenshot(path=str(ARTIFACTS / "team-page-1280.png"), full_page=True)

            ana_ctx, ana = person(browser)
            accept(ana, ana_url)
            assert ana.locator("#who").inner_text() == "Ana Lima (writer)"
            assert ana.get_by_role("button", name="Approve").count() == 0  # a writer does not approve
            bob_ctx, bob = person(browser, width=390)  # Bob works on a phone
            accept(bob, bob_url)
            # an invitation used once is worthless in another browser
            other_ctx, other = person(browser)
            other.goto(bob_url)
            assert "already used or has expired" in other.locator("#invitation-gone").inner_text()

            # Ana opens the kinetic-energy draft to edit it: it is hers for a while
            ana.get_by_role("link", name="What is kinetic energy?").click()
            ana.wait_for_selector("main.draft")
            draft_url = ana.url
            ana.get_by_role("button", name="Edit").click()
            ana.wait_for_selector("#edit-panel:not([hidden])")
            # Bob sees who is editing, and his approval is refused, naming her
            bob.goto(draft_url)
            assert "Ana Lima is editing it" in bob.locator("#claim").inner_text()
            bob.screenshot(path=str(ARTIFACTS / "team-claimed-390.png"), full_page=True)
            bob.get_by_label("allow warnings").check()
            bob.get_by_role("button", name="Approve").click()
            bob.wait_for_selector(".flash.err")
            assert "Ana Lima is editing it" in bob.locator(".flash.err").inner_text()
            bob.goto(base + "/")
            assert "Ana Lima is editing" in bob.locator("td.c-claim").all_inner_texts().__str__()

            # Ana saves her edit; Bob then approves, and git says it was Bob
            area = ana.locator("textarea[name=answer]")
            area.fill(area.input_value().replace("In summary", "To sum up"))
            ana.get_by_role("button", name="Save").click()
            ana.wait_for_selector(".flash.ok")
            bob.goto(draft_url)
            assert bob.locator("#claim").count() == 0
            assert "by Ana Lima" in bob.locator("ol.versions").inner_text()
            bob.get_by_label("allow warnings").check()
            bob.get_by_role("button", name="Approve").click()
            bob.wait_for_selector(".flash")
            assert "approved 1 draft" in bob.locator(".flash.ok").inner_text()
            message = git(site, "log", "-1", "--format=%B")
            assert "Reviewed-by: Bob Reis <bob@example.org>" in message and "To sum up" in (
                site / "content/learn/physics/what-is-kinetic-energy.md").read_text()
            # the same draft's link, opened by the owner afterwards, says what became of it
            owner.goto(draft_url)
            assert "approved by Bob Reis" in owner.locator("#gone").inner_text()

            # Ana calling a publisher's route from her own page is refused by the server
            status = ana.evaluate("""async () => {
                const csrf = document.querySelector('meta[name=csrf-token]').content;
                const r = await fetch('/approve', {method: 'POST', headers: {'X-CSRF-Token': csrf,
                    'Content-Type': 'application/x-www-form-urlencoded'}, body: 'id=0123456789abcdef'});
                return r.status; }""")
            assert status == 403
            assert ana.goto(base + "/team").status == 403

            # Ana uploads a question list: checked as batch checks it, then drafted in the background
            listing = tmp_path / "week-12.csv"
            listing.write_text("question,subject\nWhat is momentum?,Physics\n,Physics\n"  # a subject of the site
                               "What is inertia?,Physics\n", encoding="utf-8")
            ana.goto(base + "/lists")
            ana.locator("#list-file").set_input_files(str(listing))
            ana.wait_for_function("document.getElementById('list-text').value.length > 0")
            ana.get_by_role("button", name="Check the list").click()
            ana.wait_for_selector("#check")
            assert "2 question(s), 1 bad line(s)" in ana.locator("#check h2").inner_text()
            assert "line 3" in ana.locator("#bad-lines").inner_text()
            ana.get_by_role("button", name="Draft 2 question(s)").click()
            ana.wait_for_selector("#run-state")
            for _ in range(100):
                if ana.locator("#run-state").inner_text() == "done":
                    break
                time.sleep(0.3)
            assert ana.locator("#run-state").inner_text() == "done"
            assert "2 drafted" in ana.locator("#run-counts").inner_text(), ana.locator("main").inner_text()
            ana.screenshot(path=str(ARTIFACTS / "team-run-1280.png"), full_page=True)
            bob.goto(base + "/")
            assert bob.get_by_role("link", name="What is momentum?").count() == 1
            bob.screenshot(path=str(ARTIFACTS / "team-queue-390.png"), full_page=True)
            assert not (owner.errors or ana.errors or bob.errors)
            for ctx in (owner_ctx, ana_ctx, bob_ctx, other_ctx):
                ctx.close()
        finally:
            stop(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_certificate {tmp}/cert.pem;
    ssl_certificate_key {tmp}/key.pem;
    location / {{
      proxy_pass http://127.0.0.1:{backend};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $remote_addr;
    }}
  }}
}}
"""


def test_behind_a_tls_reverse_proxy(site_with_drafts, browser, tmp_path):
    if not NGINX:
        pytest.skip("no nginx: apt-get install -y nginx (CI installs it)")
    site = site_with_drafts
    env = clean_env(site)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")], check=True,
                   capture_output=True)
    proc, url = start_studio(site, env, "--trusted-proxy", "127.0.0.1", "--hostname", "localhost")
    backend = int(url.split(":")[2].split("/")[0])
    port = free_port()
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp_path, port=port, backend=backend))
    nginx = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        public = f"https://localhost:{port}"
        ctx, page = person(browser)
        page.goto(public + "/?" + url.split("?")[1])
        assert page.locator("#who").inner_text() == "Tester (publisher)"
        cookie = next(c for c in ctx.cookies() if c["name"].startswith("qtgen_studio_"))
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        # an action through the proxy: same origin (https, the proxy's host), CSRF as ever
        page.get_by_role("link", name="What is a quota?").click()
        page.wait_for_selector("main.draft")
        page.locator("#reason").fill("duplicate of the tariff page")
        page.get_by_role("button", name="Reject").click()
        page.wait_for_selector(".flash.ok")
        assert "rejected" in page.locator(".flash.ok").inner_text()
        # the invitation link made behind the proxy names the proxy's address
        page.goto(public + "/team")
        page.get_by_label("Name").fill("Ana Lima")
        page.get_by_label("E-mail").fill("ana@example.org")
        page.get_by_role("button", name="Make an invitation").click()
        assert page.locator("#invitation-url").inner_text().startswith(public + "/invite/")
        page.screenshot(path=str(ARTIFACTS / "team-behind-proxy-1280.png"), full_page=True)
        # another name through the same proxy is not served
        import ssl

        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(public + "/login", headers={"Host": "evil.example"}),
                                   context=insecure)
        assert err.value.code == 421
        ctx.close()
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        stop(proc)


def test_forwarded_headers_are_believed_only_from_a_trusted_proxy(site_with_drafts):
    """Without --trusted-proxy (or from an address not trusted), X-Forwarded-Proto: https changes nothing: no
    Secure cookie on plain HTTP, and the forwarded address does not replace the client's for login limits."""
    site = site_with_drafts
    for args in ((), ("--trusted-proxy", "10.9.8.7")):
        proc, url = start_studio(site, clean_env(site), *args)
        try:
            class Keep(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *a, **k):
                    return None

            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.build_opener(Keep).open(urllib.request.Request(
                    url, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}))
            assert err.value.code == 303
            cookie = err.value.headers["set-cookie"]
            assert "HttpOnly" in cookie and "Secure" not in cookie, args
        finally:
            stop(proc)
