"""The rendered book as a reader sees it: every page of _toc.yml opened in headless Chromium.

For each page we assert that it shows its title, that at least one figure image really loaded (``naturalWidth > 0``:
only a browser can tell, a DOM dump cannot) on every chapter, that its equations are typeset by the book's own copy of
MathJax (no CDN: offline a CDN leaves raw TeX), and that no "Execution Failed" or traceback text is shown.
Screenshots land in ``_build/screenshots/`` (the top of each page, and its first figure).

Chromium is Debian's ``chromium`` (``scripts/install_chromium.sh``, run by ``make test``; or set ``CHROMIUM``). We drive
it over the DevTools protocol on a pipe (``--remote-debugging-pipe``: NUL-separated JSON on fds 3 and 4), so no
websocket client or browser-automation package is needed. ``make test`` builds the book before running this test;
it is skipped only when ``_build/html`` does not exist.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]
FAILURE_TEXT = ("Execution Failed", "Traceback (most recent call last)")


def toc_pages() -> list[str]:
    """Document names in navigation order (root first), as in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return pages


def expected_title(page: str) -> str:
    """The first '# ' heading of the page's source, as text (markup removed)."""
    for suffix in (".md", ".ipynb"):
        src = ROOT / f"{page}{suffix}"
        if src.exists():
            text = src.read_text() if suffix == ".md" else "\n".join(
                "".join(c["source"]) for c in json.loads(src.read_text())["cells"] if c["cell_type"] == "markdown")
            match = re.search(r"^# (.+)$", text, re.M)
            if match:
                return re.sub(r"[`*]", "", match.group(1)).strip()
    raise AssertionError(f"{page}: no source with a '# ' title found")


def find_chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe (one page target, flat session)."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4; move the pipe ends above any fd we could clobber
        high_r, high_w = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

        def child_fds():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
                                     preexec_fn=child_fds)
        for fd in (to_chrome_r, from_chrome_w, high_r, high_w):
            os.close(fd)
        self._next_id, self._replies, self.events = 0, {}, queue.Queue()
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                with self._lock:
                    self._replies[None] = "closed"
                    self._lock.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        self._replies[msg["id"]] = msg
                        self._lock.notify_all()
                else:
                    self.events.put(msg)

    def call(self, method: str, *, session: bool = False, timeout: float = 30, **params):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._next_id not in self._replies:
                if None in self._replies:
                    raise RuntimeError(f"Chromium exited while waiting for {method}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply to {method} within {timeout} s")
                self._lock.wait(left)
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def evaluate(self, expression: str, timeout: float = 30):
        result = self.call("Runtime.evaluate", session=True, timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 30):
        while not self.events.empty():
            self.events.get_nowait()
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{url} did not finish loading within {timeout} s") from None
            if event.get("method") == "Page.loadEventFired":
                return

    def screenshot(self, path: Path, clip: dict | None = None):
        params = {"format": "png"}
        if clip:
            params.update(clip=clip, captureBeyondViewport=True)
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)


# what the page shows: title, heading, the figures of its cell outputs and whether they loaded, visible failure text
INSPECT = """
(async () => {
  const figures = [...document.querySelectorAll("main img, article img")]
      .filter(img => img.getAttribute("src") && img.getAttribute("src").includes("_images/"));
  figures.forEach(img => { img.loading = "eager"; });
  await Promise.race([
    Promise.all(figures.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; }))),
    new Promise(r => setTimeout(r, 10000)),
  ]);
  const h1 = document.querySelector("main h1, article h1");
  let heading = "";
  if (h1) { const c = h1.cloneNode(true); c.querySelectorAll(".headerlink").forEach(e => e.remove());
            heading = c.textContent.trim(); }
  const main = document.querySelector("main") || document.body;
  return {title: document.title, heading,
          figures: figures.map(img => ({src: img.getAttribute("src"), width: img.naturalWidth})),
          text: main.innerText, tracebacks: document.querySelectorAll(".output.traceback, .output.error").length};
})()
"""
# bring the first loaded figure to the middle of the viewport, and let the page paint
SHOW_FIRST_FIGURE = """
(async () => {
  const img = [...document.querySelectorAll("main img, article img")]
      .find(i => (i.getAttribute("src") || "").includes("_images/") && i.naturalWidth > 0);
  if (!img) return false;
  img.scrollIntoView({block: "center"});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
})()
"""

# equations: MathJax must come from the book itself (no CDN offline) and typeset every math element
MATH = """
(async () => {
  const math = document.querySelectorAll("main .math, article .math").length;
  const scripts = [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s));
  if (!window.MathJax || !window.MathJax.startup) return {math, scripts, loaded: false, typeset: 0};
  await Promise.race([window.MathJax.startup.promise, new Promise(r => setTimeout(r, 15000))]);
  return {math, scripts, loaded: true, typeset: document.querySelectorAll("mjx-container").length};
})()
"""

PAGES = toc_pages()


@pytest.fixture(scope="module")
def browser():
    if not HTML.exists():
        pytest.skip("the book is not built (_build/html is absent): run `make book`; `make test` builds it first")
    binary = find_chromium()
    assert binary, "chromium not found: run `bash scripts/install_chromium.sh` (make test does) or set CHROMIUM"
    SHOTS.mkdir(parents=True, exist_ok=True)
    b = Browser(binary)
    yield b
    b.close()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p).name)
def test_page_renders_title_figures_math_and_no_errors(browser, page):
    html = HTML / f"{page}.html"
    assert html.exists(), f"{html.relative_to(ROOT)} is missing from the built book: is {page} in _toc.yml built?"
    browser.open(html.as_uri())
    seen = browser.evaluate(INSPECT)
    name = Path(page).name
    browser.screenshot(SHOTS / f"{name}.png")
    if browser.evaluate(SHOW_FIRST_FIGURE):
        browser.screenshot(SHOTS / f"{name}-figure.png")

    title = expected_title(page)
    assert seen["heading"] == title, f"{name}: page heading {seen['heading']!r}, expected {title!r}"
    assert title in seen["title"], f"{name}: <title> {seen['title']!r} lacks {title!r}"
    for text in FAILURE_TEXT:
        assert text not in seen["text"], f"{name}: the page shows {text!r}"
    assert seen["tracebacks"] == 0, f"{name}: {seen['tracebacks']} error output(s) rendered"
    math = browser.evaluate(MATH)
    if math["math"]:
        assert all(src.startswith("file:") for src in math["scripts"]), f"{name}: MathJax from {math['scripts']}"
        assert math["loaded"], f"{name}: MathJax did not load ({math['scripts']}): run scripts/vendor_mathjax.py"
        assert math["typeset"] >= math["math"], f"{name}: {math['typeset']} of {math['math']} equations typeset"
    broken = [f["src"] for f in seen["figures"] if f["width"] == 0]
    assert not broken, f"{name}: figure images that did not load: {broken}"
    if page not in (PAGES[0], PAGES[-1]):  # every chapter shows at least one figure; intro and references need not
        assert seen["figures"], f"{name}: no figure image on the page"


def test_navigation_lists_intro_six_chapters_summary_and_references():
    names = [Path(p).name for p in PAGES]
    assert names[0] == "intro" and names[-2:] == ["07_summary", "references"]
    assert [n[:2] for n in names[1:-1]] == ["01", "02", "03", "04", "05", "06", "07"]


# Lines and tables that run past the content column: a <pre> of a code cell or output whose text is wider than the
# box that shows it (cut at the right edge, or only visible by scrolling sideways), a table that reaches past the
# column without a scrollbar of its own, and how far the whole page is wider than the window.
OVERFLOW = """
(() => {
  const main = document.querySelector("main") || document.body;
  const column = (document.querySelector("article") || main).getBoundingClientRect();
  const scrolls = el => { for (let e = el; e && e !== main; e = e.parentElement) {
      if (["auto", "scroll"].includes(getComputedStyle(e).overflowX)) return true; } return false; };
  const cut = [...main.querySelectorAll("div.cell_input pre, div.cell_output pre")]
      .filter(p => p.scrollWidth > p.clientWidth + 1)
      .map(p => p.textContent.trim().split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "").slice(0, 90));
  const tables = [...main.querySelectorAll("table")]
      .filter(t => t.getBoundingClientRect().right > column.right + 1 && !scrolls(t))
      .map(t => t.textContent.trim().slice(0, 60));
  return {cut, tables, page: document.documentElement.scrollWidth - window.innerWidth};
})()
"""
WIDTHS = {"laptop": (1280, 800, False), "phone": (390, 844, True)}


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p).name)
def test_lines_and_tables_stay_inside_the_content_column(browser, page, width):
    """At a laptop and a phone width, no code or output line runs past the column and the page is not wider than
    the window (_static/course.css wraps the lines); a screenshot of each page's top at each width is kept."""
    w, h, mobile = WIDTHS[width]
    browser.call("Emulation.setDeviceMetricsOverride", session=True, width=w, height=h, deviceScaleFactor=1,
                 mobile=mobile)
    try:
        browser.open((HTML / f"{page}.html").as_uri())
        seen = browser.evaluate(OVERFLOW)
        browser.screenshot(SHOTS / f"{Path(page).name}-{width}.png")
    finally:
        browser.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)
    name = f"{Path(page).name} at {w} px"
    assert not seen["cut"], f"{name}: {len(seen['cut'])} code/output block(s) run past the column: {seen['cut'][:3]}"
    assert not seen["tables"], f"{name}: table(s) past the column without a scrollbar: {seen['tables'][:3]}"
    assert seen["page"] <= 1, f"{name}: the page is {seen['page']} px wider than the window"
