#!/usr/bin/env bash
# The SBOM (CycloneDX 1.6, JSON) of the image's locked runtime set: every package of requirements/runtime.lock
# with its version, package URL and the SHA-256 hashes pip checks, under jitbot itself (from pyproject.toml).
# Written by cyclonedx-py (CycloneDX's own tool, package cyclonedx-bom), reproducibly: the same lock gives the
# same bytes, so the committed file changes only when the lock does (tests/bot/test_deploy_files.py checks
# that it lists exactly the locked set).
#   deploy/sbom.sh                   rewrite requirements/runtime.cdx.json (after deploy/lock.sh)
#   deploy/sbom.sh path/to/out.json  write it elsewhere (e.g. to attach to a release)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-requirements/runtime.cdx.json}

python=${PYTHON:-python3}
tools=${JITBOT_TOOLS:-${TMPDIR:-/tmp}/jitbot-sbom-tools}
if [ ! -x "$tools/bin/cyclonedx-py" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/pip" install -q 'cyclonedx-bom>=7,<8'
fi
"$tools/bin/cyclonedx-py" requirements --pyproject pyproject.toml --mc-type application --sv 1.6 \
  --output-reproducible --validate --output-file "$out" requirements/runtime.lock
echo "$out: $(grep -c '"bom-ref": "requirements-L' "$out" || true) components"
