#!/usr/bin/env bash
# Write a built HTML folder to the gh-pages branch of the git repository in the current directory
# (ghp-import, with a .nojekyll file so GitHub Pages serves _static/ as is); push it only when a
# remote is named. The one place of the publish command: `make publish [REMOTE=origin]` calls it
# with _build/html, tests/test_publish.py with a fake folder in a temporary repository.
#   .ci/publish.sh HTML_DIR [REMOTE]
set -euo pipefail
html=${1:?usage: .ci/publish.sh HTML_DIR [REMOTE]}
remote=${2:-}
ghp_import=${GHP_IMPORT:-"$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/ghp-import"}
test -f "$html/index.html" || { echo "no $html/index.html: build the book first (make html)" >&2; exit 1; }
message="The book, built from $(git describe --always --dirty 2>/dev/null || echo 'an uncommitted tree')"
"$ghp_import" -n -b gh-pages -m "$message" ${remote:+-p -r "$remote"} "$html"
if [ -n "$remote" ]; then echo "gh-pages written and pushed to $remote"; else echo "gh-pages written (not pushed: REMOTE=origin pushes)"; fi
