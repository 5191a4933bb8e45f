"""Load MathJax on every page of the book, not only on pages with math of their own: the sidebar
shows chapter titles with math (the alpha-GAN chapter's) on every page, and without MathJax they
would show their TeX source (found by the browser check, tests/test_browser.py)."""


def setup(app):
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
