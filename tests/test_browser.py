"""The reader's book: every page of the built HTML (`make html`, from the stored notebooks) loaded in
headless Chromium and checked from its rendered DOM (tests/browser_check.py): math typeset, images
loaded, no TeX source in link text, internal links and anchors that exist. Run by `make browser`, the
last step of `make test`; `make unit` leaves this file out (marker `browser`), since it needs the
built book. Skipped, saying why, where Chromium is not installed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

import browser_check
from gancore import status

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
MATHJAX = REPO / "_build" / "mathjax" / "_static" / "mathjax"   # the Makefile's copy of MathJax
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def driver():
    why = browser_check.missing_browser()
    if why:
        pytest.skip(f"Chromium cannot be started: {why}")
    pytest.importorskip("selenium", reason="selenium (pinned in requirements.lock) is not installed: make setup")
    with browser_check.open_browser() as driver:
        yield driver


def _built_book() -> list[Path]:
    pages = browser_check.book_pages(HTML) if HTML.is_dir() else []
    if not pages:
        pytest.fail(f"no built book in {HTML}: run make html first")
    return pages


def test_every_page_of_the_built_book(driver):
    pages = _built_book()
    problems, targets = [], {}
    with browser_check.serve(HTML) as base:
        for page in pages:
            url = base + page.relative_to(HTML).as_posix()
            problems += [f"{page.relative_to(HTML)}: {p}" for p in browser_check.check_page(driver, url, pages=targets)]
    assert not problems, f"{len(problems)} problem(s) in the built book:\n" + "\n".join(problems)


def test_the_top_index_leads_to_the_root_page(driver):
    _built_book()
    root = re.search(r"^root:\s*(\S+)", (REPO / "_toc.yml").read_text(), re.M).group(1)
    with browser_check.serve(HTML) as base:
        driver.get(base + "index.html")
        assert driver.current_url.split("#")[0] == f"{base}{root}.html"


# --- the check fails on broken pages ---------------------------------------------------------------

def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title>{head}</head><body>{body}</body></html>"


BROKEN = {
    "broken_image": (_page("<p>A figure: <img src='figures/missing.png' alt='f'></p>"),
                     "image did not load: figures/missing.png"),
    "raw_tex": (_page("<p>the generator $x$ wins</p>"), "raw TeX in the text: 'the generator $x$ wins'"),
    "raw_command": (_page("<p>tune \\alpha_D well</p>"), "raw TeX in the text"),
    "untypeset_math": (_page("<p><span class='math notranslate nohighlight'>\\(x^2\\)</span></p>"),
                       "math element not typeset: '\\\\(x^2\\\\)'"),
    "link_tex": (_page("<p>see <a href='fine.html'>(\\alpha_D, \\alpha_G)-GANs</a></p>"),
                 "link text shows TeX: '(\\\\alpha_D, \\\\alpha_G)-GANs' (-> fine.html)"),
    "link_dollar": (_page("<p>see <a href='fine.html'>$\\alpha$-GAN</a></p>"), "link text shows TeX"),
    "missing_page": (_page("<p>see <a href='chapter/nowhere.html'>the chapter</a></p>"),
                     "link 'the chapter' -> "),
    "missing_anchor": (_page("<p>see <a href='fine.html#no-such-section'>a section</a></p>"),
                       "no anchor #no-such-section in that page"),
    "missing_local_anchor": (_page("<p>see <a href='#nowhere'>below</a></p>"),
                             "link 'below' -> #nowhere: no such anchor on this page"),
}


@pytest.fixture
def site(tmp_path):
    """A folder with a page that is fine (an image, a link to an anchor, code with TeX in it)."""
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "dot.png").write_bytes(PNG)
    (tmp_path / "fine.html").write_text(_page(
        "<h1 id='top'>Fine</h1><p><img src='figures/dot.png' alt='dot'> <a href='fine.html#top'>top</a>"
        " <a href='#top'>up</a> <a href='https://example.org/'>elsewhere</a></p>"
        "<pre>make sweep OVERRIDES='{\"x\": 1}'  # $HOME \\alpha</pre><p><code>$x$</code></p>"))
    with browser_check.serve(tmp_path) as base:
        yield tmp_path, base


def test_a_fine_page_has_no_problem(driver, site):
    folder, base = site
    assert browser_check.check_page(driver, base + "fine.html") == []


@pytest.mark.parametrize("name", list(BROKEN))
def test_the_check_names_each_broken_page(driver, site, name):
    folder, base = site
    html, expected = BROKEN[name]
    (folder / f"{name}.html").write_text(html)
    problems = browser_check.check_page(driver, base + f"{name}.html")
    assert any(expected in p for p in problems), problems


def test_a_missing_page_is_a_problem(driver, site):
    folder, base = site
    assert browser_check.check_page(driver, base + "absent.html")[0].startswith("page does not load")


def test_mathjax_errors_and_math_it_does_not_process(driver, site):
    """With the book's MathJax loaded: `$x$` (not a delimiter MathJax processes here) stays raw, and
    broken TeX gives a MathJax error; typeset math is no problem."""
    if not (MATHJAX / "tex-mml-chtml.js").is_file():
        pytest.skip(f"no MathJax copy at {MATHJAX}: run make html first")
    folder, base = site
    (folder / "mathjax").symlink_to(MATHJAX, target_is_directory=True)
    head = ("<script>MathJax = {options: {processHtmlClass: 'math'}}</script>"
            "<script defer src='mathjax/tex-mml-chtml.js'></script>")
    (folder / "good.html").write_text(_page("<p><span class='math'>\\(\\alpha_D\\)</span></p>", head))
    (folder / "bad.html").write_text(_page(
        "<p>a loss $x$ here</p><p><span class='math'>\\(\\frac{1}\\)</span></p>", head))
    assert browser_check.check_page(driver, base + "good.html") == []
    problems = browser_check.check_page(driver, base + "bad.html")
    assert any("raw TeX in the text: 'a loss $x$ here'" == p for p in problems), problems
    assert any(p.startswith("MathJax error") for p in problems), problems


# --- what issue 29 added: answers on the first screen, dropdowns, the status page, the footer -------

CHAPTERS = ["srfb", "double_oracle", "alpha_gan", "convex_wgan", "repeated_game", "arena"]
LAPTOP = (1366, 768)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_answers_on_its_first_screen_and_its_reasoning_folds_out(driver, chapter):
    _built_book()
    from selenium.webdriver.common.by import By

    driver.set_window_size(*LAPTOP)
    with browser_check.serve(HTML) as base:
        driver.get(f"{base}book/executed/{chapter}.html")
        table = driver.find_element(By.CSS_SELECTOR, "table.gancore-claims")
        top = driver.execute_script("return arguments[0].getBoundingClientRect().top + window.scrollY", table)
        height = driver.execute_script("return window.innerHeight")
        assert top < height, f"{chapter}: the claims table starts at {top:.0f} px, below the first screen ({height} px)"
        (REPO / "_build" / "screenshots").mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(REPO / "_build" / "screenshots" / f"{chapter}-top.png"))
        why = table.find_element(By.CSS_SELECTOR, "details")
        reason = why.find_element(By.CSS_SELECTOR, "small")
        assert not reason.is_displayed() and why.get_attribute("open") is None
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", why)
        why.find_element(By.TAG_NAME, "summary").click()
        assert why.get_attribute("open") is not None and reason.is_displayed() and reason.text.strip()
        summary = driver.find_element(By.CSS_SELECTOR, "details.gancore-summary")
        summary.find_element(By.TAG_NAME, "summary").click()
        assert "Authors' code" in summary.text and "What would settle the open claims" in summary.text


def test_the_status_page_and_the_footer_name_the_commit(driver):
    _built_book()
    from selenium.webdriver.common.by import By

    with browser_check.serve(HTML) as base:
        driver.get(f"{base}book/status.html")
        text = driver.find_element(By.TAG_NAME, "main").text
        assert "Status: when and on what each chapter ran" in text
        tables = driver.find_elements(By.CSS_SELECTOR, "main table")
        landing = status.sweeps_in_progress(REPO)  # a third table while a sweep's jobs are still landing
        assert len(tables) == 2 + (not landing.empty) and "toolkit" in tables[0].text and "alpha_gan" in tables[1].text
        assert landing.empty or landing["sweep"].iloc[0] in tables[2].text
        driver.get(f"{base}book/intro.html")
        footer = driver.find_element(By.CSS_SELECTOR, ".gancore-commit").text
        assert re.search(r"Built from commit [0-9a-f]{12}", footer), footer
