#!/usr/bin/env bash
# ensure_venv.sh [--mavsdk3] [DIR]
#
# Idempotently create the Python venv used by the third-party interop harness
# (MAVSDK 4.1.0 C-binding wheel, pymavlink 2.4.50, pytest) and print the venv's
# python path as the LAST line of stdout. Everything else goes to stderr.
#
#   DIR defaults to <repo>/target/interop-venv (the repo is two levels above this
#   script). Override the interpreter with PYTHON=/path/to/python3 (>= 3.8; the
#   pymavlink 2.4.50 binary wheels exist for CPython 3.11, which is what we use).
#
# Safe against concurrent callers: the whole check/create/install sequence runs
# under flock on "DIR.lock". A stamp file (DIR/.interop-stamp) records the
# requirement set; when it matches and the imports work, nothing is installed.
#
# Needs no network except the Python package index (pip's usual index, honours
# PIP_INDEX_URL). If the interpreter has no ensurepip (Debian's python3 without
# the python3-venv package), the venv is made with --without-pip and pip is
# bootstrapped from its own wheel fetched from the same index.
#
# --mavsdk3 builds the OTHER venv, of MAVSDK 3.17.4 (MAVSDK-Python over the
# mavsdk_server gRPC binary, whose FtpServer reads bursts at the position of the
# last ReadFile; tests/interop/mavsdk3_ftp_server.py), default DIR
# <repo>/target/mavsdk3-venv. The two cannot share a venv: both are `import mavsdk`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [[ "${1:-}" == "--mavsdk3" ]]; then
    shift
    REQS=(mavsdk==3.17.4)
    IMPORTS='import mavsdk, mavsdk.ftp_server, grpc'
    STAMP_CONTENT="mavsdk3-venv v1: ${REQS[*]}"
    DIR="${1:-$repo/target/mavsdk3-venv}"
else
    REQS=(mavsdk==4.1.0 pymavlink==2.4.50 pytest)
    IMPORTS='import mavsdk, pymavlink.mavftp, pytest'
    STAMP_CONTENT="interop-venv v1: ${REQS[*]}"
    DIR="${1:-$repo/target/interop-venv}"
fi
PYTHON="${PYTHON:-python3}"

log() { echo "ensure_venv: $*" >&2; }

mkdir -p "$(dirname "$DIR")"
DIR="$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")"
LOCK="$DIR.lock"
STAMP="$DIR/.interop-stamp"
VPY="$DIR/bin/python"

exec 9>"$LOCK"
if ! flock -w 900 9; then
    log "could not take $LOCK within 900 s"
    exit 1
fi

venv_ok() {
    [[ -x "$VPY" ]] || return 1
    [[ -f "$STAMP" ]] || return 1
    [[ "$(cat "$STAMP")" == "$STAMP_CONTENT" ]] || return 1
    timeout 60 "$VPY" -W ignore -c "$IMPORTS" >/dev/null 2>&1 || return 1
}

bootstrap_pip() {
    # Fetch pip's wheel from the package index (one look-up of one package)
    # and install pip into the venv by running pip from that wheel.
    log "no ensurepip: bootstrapping pip from the package index"
    local tmp
    tmp="$(mktemp -d)"
    timeout 300 "$VPY" - "$tmp" >&2 <<'EOF'
import glob, json, os, shutil, sys, urllib.parse, urllib.request
dest = sys.argv[1]
# A local wheel directory (pip's --find-links) is used first when it has pip.
for d in os.environ.get("PIP_FIND_LINKS", "").split():
    found = sorted(glob.glob(os.path.join(d, "pip-*-py3-none-any.whl")))
    if found:
        shutil.copy(found[-1], dest)
        print(found[-1])
        sys.exit(0)
index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
# The JSON API lives beside /simple on PyPI and its mirrors.
base = index[: -len("/simple")] if index.endswith("/simple") else index
json_url = base + "/pypi/pip/json"
with urllib.request.urlopen(json_url, timeout=60) as r:
    info = json.load(r)
url = next(u["url"] for u in info["urls"] if u["filename"].endswith("-py3-none-any.whl"))
url = urllib.parse.urljoin(json_url, url)  # mirrors may answer with relative URLs
name = os.path.join(dest, url.rsplit("/", 1)[1])
with urllib.request.urlopen(url, timeout=120) as r, open(name, "wb") as f:
    f.write(r.read())
print(name)
EOF
    local whl
    whl="$(ls "$tmp"/pip-*.whl)"
    timeout 300 "$VPY" "$whl/pip" install --disable-pip-version-check -q "$whl" >&2
    rm -rf "$tmp"
}

if venv_ok; then
    log "up to date: $DIR"
else
    log "creating/updating venv in $DIR (with $($PYTHON -V 2>&1))"
    # A venv without a working interpreter (moved, or from another Python) is rebuilt.
    if [[ -d "$DIR" ]] && ! timeout 60 "$VPY" -c 'import sys' >/dev/null 2>&1; then
        log "removing broken venv $DIR"
        rm -rf "$DIR"
    fi
    if [[ ! -x "$VPY" ]]; then
        if [[ -z "${INTEROP_FORCE_PIP_BOOTSTRAP:-}" ]] && timeout 300 "$PYTHON" -m venv "$DIR" >&2; then
            :
        else
            rm -rf "$DIR"
            timeout 300 "$PYTHON" -m venv --without-pip "$DIR" >&2
        fi
    fi
    if ! timeout 60 "$VPY" -m pip --version >/dev/null 2>&1; then
        bootstrap_pip
    fi
    rm -f "$STAMP"
    timeout 900 "$VPY" -m pip install --disable-pip-version-check -q "${REQS[@]}" >&2
    timeout 60 "$VPY" -W ignore -c "$IMPORTS" >&2
    echo "$STAMP_CONTENT" >"$STAMP"
    log "ready: $DIR"
fi

echo "$VPY"
