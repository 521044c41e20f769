# Sourced by the scripts beside it: makes sure .venv exists and holds the project
# (with the extras named in $DOCMEMO_EXTRAS), reinstalling when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Docteur Memo needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi

extras=${DOCMEMO_EXTRAS:-}
stamp=.venv/.docmemo-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=[$extras]"
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv…" >&2
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || ! grep -qxF "$wanted" "$stamp" 2>/dev/null; then
  echo "Installing Docteur Memo and its pinned dependencies into .venv…" >&2
  target="."
  [ -n "$extras" ] && target=".[$extras]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
  echo "$wanted" > "$stamp"
fi
