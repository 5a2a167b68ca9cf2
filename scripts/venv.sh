# Sourced by scripts/run and scripts/test: make .venv with physgap installed (editable) when missing or stale.
# $1: pip extras ("" or "test").
physgap_venv() {
  local extras="$1" python="" candidate stamp want
  for candidate in "${PHYSGAP_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$(command -v "$candidate"); break
    fi
  done
  if [ -z "$python" ]; then
    echo "physgap needs Python >= 3.11 (Debian: apt-get install python3 python3-venv)" >&2
    return 1
  fi
  if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    else
      echo "python3-venv is missing: sudo apt-get install python3-venv" >&2; return 1
    fi
  fi
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  stamp=.venv/.physgap-installed
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=$extras"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    if [ -n "$extras" ]; then
      .venv/bin/python -m pip install -q -e ".[$extras]"
    else
      .venv/bin/python -m pip install -q -e .
    fi
    echo "$want" > "$stamp"
  fi
}
