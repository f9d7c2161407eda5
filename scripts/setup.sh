#!/usr/bin/env bash
# Sets up everything pogo's build and tests need on a fresh machine:
# - checks for Go and a python3 built with a shared libpython;
# - installs from Debian's packages the programs the tests run beside pogo:
#   lighttpd (a CGI host, for pogo --cgi) and chromium (a browser engine, for
#   --debug's pages), with apt-get update only if the first try fails;
# - creates the project virtualenv .venv (with $PYTHON, default python3) and
#   installs the pinned test requirements into it.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
die() { echo "setup: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not installed"
command -v "$PYTHON" >/dev/null || die "$PYTHON is not installed"
"$PYTHON" scripts/pyconfig.py ldflags >/dev/null || die "$PYTHON cannot be embedded (see above)"

want=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$want" ]; then
	echo "setup: .venv is for another Python; recreating it"
	rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
	"$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
sum=$(sha256sum requirements-test.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
	.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	echo "$sum" >"$stamp"
fi

need=()
[ -x /usr/sbin/lighttpd ] || need+=(lighttpd)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo="sudo -n"
	echo "setup: installing ${need[*]} (Debian packages)"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; } ||
		die "cannot install ${need[*]} with apt-get"
fi
