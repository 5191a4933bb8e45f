"""The reader's check of the built HTML book: each page loaded in headless Chromium, judged from its
rendered DOM once MathJax has finished.

``check_page(driver, url)`` returns the page's problems as readable lines (an empty list: the page
is fine): math left untypeset (raw TeX in the text, a math element without MathJax output, a MathJax
error), an image that did not load, a link whose text shows TeX source, an internal link to a page or
an anchor that does not exist. ``serve(folder)`` serves a folder on 127.0.0.1 for the check;
``open_browser()`` starts Debian's Chromium through its chromedriver, with a throwaway profile and
$HOME, so nothing is written outside a temporary folder.
"""

from __future__ import annotations

import contextlib
import functools
import html.parser
import http.server
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1024"]
MATHJAX_TIMEOUT = 60.0   # seconds for MathJax.startup.promise
IMAGE_TIMEOUT = 20.0     # seconds for every <img> to finish loading (or failing)

# Raw TeX in rendered text: $$, $...$, \( \) \[ \], or a control sequence such as \alpha.
RAW_TEX = re.compile(r"\$\$|\$[^\s$][^$]*\$|\\[()\[\]]|\\[A-Za-z]+")
# TeX in a link's text: a backslash command (or \( \[) or a dollar sign.
LINK_TEX = re.compile(r"\\[A-Za-z()\[\]]|\$")


def missing_browser() -> str | None:
    """Why Chromium cannot be started here, or None when its binaries are installed."""
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if absent:
        return f"{' and '.join(absent)} not installed ({INSTALL}; .ci/run does this)"
    return None


def start_driver(home: str | os.PathLike):
    """Headless Chromium driven by /usr/bin/chromedriver, its profile and $HOME inside ``home``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = Path(home)
    (home / "profile").mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={home / 'profile'}"]:
        options.add_argument(flag)
    # Chromium writes ~/.pki and XDG folders: point all of them into the temporary folder.
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), XDG_DATA_HOME=str(home / "data"))
    service = Service(executable_path=CHROMEDRIVER, env=env, log_output=str(home / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(MATHJAX_TIMEOUT + IMAGE_TIMEOUT)
    return driver


@contextlib.contextmanager
def open_browser():
    """``start_driver`` in a temporary folder, quit and removed on exit."""
    home = tempfile.mkdtemp(prefix="gancore-chromium-")
    try:
        driver = start_driver(home)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(home, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: str | os.PathLike):
    """Serve ``folder`` over http on 127.0.0.1 (a free port); yields the base URL, ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def book_pages(html_root: str | os.PathLike) -> list[Path]:
    """The book's pages in a built _build/html: every .html but those under _static/, the generated
    index and search pages (nothing of ours) and the top index.html, a redirect to the root page."""
    root = Path(html_root)
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in root.rglob("*.html")
                  if p.relative_to(root).parts[0] not in {"_static", "_sources", "_images"}
                  and str(p.relative_to(root)) not in skip and not is_redirect(p))


def is_redirect(page: Path) -> bool:
    """Whether ``page`` is only a redirect (Jupyter Book's top index.html)."""
    head = page.read_text(encoding="utf-8", errors="replace")[:2000].lower()
    return 'http-equiv="refresh"' in head and "<body" not in head


# --- the checks, in the page -------------------------------------------------------------------

_WAIT_MATHJAX = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax;
if (!mj) { done("none"); return; }
if (!mj.startup || !mj.startup.promise) { done("MathJax is configured but did not load"); return; }
const timer = setTimeout(() => done("MathJax did not finish within " + arguments[0] + " s"), arguments[0] * 1000);
mj.startup.promise.then(() => { clearTimeout(timer); done("ok"); },
                        (e) => { clearTimeout(timer); done("MathJax failed: " + e); });
"""

_WAIT_IMAGES = """
const done = arguments[arguments.length - 1];
const limit = arguments[0] * 1000, images = Array.from(document.images);
images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
const start = Date.now();
(function poll() {
  if (images.every((img) => img.complete) || Date.now() - start > limit) { done(); return; }
  setTimeout(poll, 50);
})();
"""

_PROBLEMS = """
// Raw TeX is looked for in the text a reader sees (hidden parts, such as the print-only header, are
// not on screen); math elements, images and links are checked everywhere in the page.
const out = {rawTex: [], untypeset: [], errors: [], images: [], linkTex: [], links: []};
// Code is left alone; math elements are judged whole below.
const SKIP = "script, style, noscript, template, pre, code, kbd, samp, textarea, mjx-container, .math";
const rawTex = new RegExp(arguments[0]), linkTex = new RegExp(arguments[1]);
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(SKIP) || !parent.checkVisibility({visibilityProperty: true})) continue;
  if (rawTex.test(node.data)) out.rawTex.push(node.data.trim().replace(/\\s+/g, " ").slice(0, 120));
}
document.querySelectorAll(".math").forEach((el) => {
  if (!el.querySelector("mjx-container") && el.tagName !== "MJX-CONTAINER")
    out.untypeset.push(el.textContent.trim().slice(0, 120));
});
document.querySelectorAll("mjx-merror, [data-mjx-error]").forEach((el) => {
  out.errors.push((el.getAttribute("data-mjx-error") || el.textContent).trim().slice(0, 120));
});
Array.from(document.images).forEach((img) => {
  if (!img.complete || img.naturalWidth === 0) out.images.push(img.getAttribute("src") || "(no src)");
});
document.querySelectorAll("a").forEach((a) => {
  const copy = a.cloneNode(true);
  copy.querySelectorAll("mjx-container").forEach((m) => m.remove());
  const text = copy.textContent.trim().replace(/\\s+/g, " ");
  if (linkTex.test(text)) out.linkTex.push([text.slice(0, 120), a.getAttribute("href") || ""]);
  if (a.hasAttribute("href")) {
    const href = a.href;
    const own = location.protocol === "file:" ? href.startsWith("file:") : href.startsWith(location.origin + "/");
    if (own) {
      const hash = new URL(href).hash;
      const here = href.split("#")[0] === location.href.split("#")[0];
      const fragment = decodeURIComponent(hash.slice(1));
      const found = !fragment || !!document.getElementById(fragment) || document.getElementsByName(fragment).length > 0;
      out.links.push([href, text.slice(0, 80), here, found]);
    }
  }
});
return out;
"""


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "id" or (tag == "a" and name == "name")):
                self.ids.add(value)


def _fetch(url: str) -> tuple[bytes | None, str]:
    """The body at ``url`` (http or file) and its content type, or (None, why)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read(), response.headers.get_content_type() or ""
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))


def _strip(url: str) -> str:
    return urllib.parse.urldefrag(url)[0]


def check_page(driver, url: str, *, pages: dict | None = None) -> list[str]:
    """Load ``url`` and return its problems (empty: none). ``pages`` caches fetched link targets
    (url -> ids, or None when missing) between calls."""
    body, why = _fetch(_strip(url))
    if body is None:
        return [f"page does not load: {url} ({why})"]
    pages = {} if pages is None else pages
    driver.get(url)
    problems = []
    state = driver.execute_async_script(_WAIT_MATHJAX, MATHJAX_TIMEOUT)
    if state not in ("ok", "none"):
        problems.append(state)
    driver.execute_async_script(_WAIT_IMAGES, IMAGE_TIMEOUT)
    found = driver.execute_script(_PROBLEMS, RAW_TEX.pattern, LINK_TEX.pattern)
    problems += [f"raw TeX in the text: {text!r}" for text in found["rawTex"]]
    problems += [f"math element not typeset: {text!r}" for text in found["untypeset"]]
    problems += [f"MathJax error: {text!r}" for text in found["errors"]]
    problems += [f"image did not load: {src}" for src in found["images"]]
    problems += [f"link text shows TeX: {text!r} (-> {href})" for text, href in found["linkTex"]]
    for href, text, here, present in found["links"]:
        target, fragment = urllib.parse.urldefrag(href)
        fragment = urllib.parse.unquote(fragment)
        if here:
            if not present:
                problems.append(f"link {text!r} -> #{fragment}: no such anchor on this page")
            continue
        if target not in pages:
            content, kind = _fetch(target)
            if content is None:
                pages[target] = None
            elif kind == "text/html":
                parser = _Ids()
                parser.feed(content.decode("utf-8", "replace"))
                pages[target] = parser.ids
            else:
                pages[target] = "file"   # not a page (a source, an image): only its existence counts
        ids = pages[target]
        if ids is None:
            problems.append(f"link {text!r} -> {href}: the page does not exist")
        elif fragment and ids != "file" and fragment not in ids:
            problems.append(f"link {text!r} -> {href}: no anchor #{fragment} in that page")
    return problems
