"""Name the commit the book was built from in every page's footer (sphinx-book-theme's
``extra_footer``); the status page says when and on what each chapter ran."""

import subprocess
from pathlib import Path


def _commit(folder: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty else "")


def _footer(app) -> None:
    options = app.config.html_theme_options
    options["extra_footer"] = (f'<p class="gancore-commit">Built from commit <code>{_commit(Path(app.srcdir))}</code>; '
                               "when and on what each chapter ran: the status page.</p>")


def setup(app):
    app.connect("builder-inited", _footer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
