#!/bin/bash
# The whole test suite (README's test command).  Installs what the tests
# need first, then runs pytest; pytest's "no tests collected" (exit 5)
# counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
set +e
python3 -m pytest -q -p no:cacheprovider tests "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "tests/run.sh: pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
