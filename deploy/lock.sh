#!/usr/bin/env bash
# Refresh the lock files the image installs from, with a SHA-256 for every file pip may download:
#   requirements/runtime.lock  every runtime dependency of jitbot with its extras postgres and cedar
#   requirements/build.lock    setuptools and wheel, to build jitbot's own wheel in the image
# Resolved for CPython 3.11 (the image's) against the public index only, whatever this machine's pip.conf says.
#
#   deploy/lock.sh                 re-resolve after pyproject.toml changed, keeping every other pin
#   deploy/lock.sh --upgrade       move everything to the newest versions pyproject.toml allows
#   deploy/lock.sh -P boto3        upgrade one package
# Review the diff, build the image, run the tests, commit both locks; then deploy/sbom.sh for the new set.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "deploy/lock.sh needs CPython 3.11 (the image's); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
tools=${JITBOT_TOOLS:-${TMPDIR:-/tmp}/jitbot-lock-tools}
if [ ! -x "$tools/bin/pip-compile" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/pip" install -q 'pip-tools>=7.4,<8'
fi

export PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND=deploy/lock.sh
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
        --index-url https://pypi.org/simple)
"$tools/bin/pip-compile" "${common[@]}" --extra postgres --extra cedar \
  --output-file requirements/runtime.lock "$@" pyproject.toml
"$tools/bin/pip-compile" "${common[@]}" --output-file requirements/build.lock "$@" requirements/build.in
echo "requirements/runtime.lock: $(grep -c '^[a-z0-9]' requirements/runtime.lock) packages;" \
     "requirements/build.lock: $(grep -c '^[a-z0-9]' requirements/build.lock)"
