#!/bin/sh
# The interpreter of every DVC stage command (`sh stages/python.sh -m stages.<name>`), so that a stage
# does not depend on which `python` comes first on PATH: the active virtual environment, else this
# checkout's .venv (as `make setup` makes it), else python3. `-m` puts the project root first on
# sys.path, so a stage always imports this checkout's `creditrisk`.
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    exec "$VIRTUAL_ENV/bin/python" "$@"
fi
if [ -x .venv/bin/python ]; then
    exec .venv/bin/python "$@"
fi
exec python3 "$@"
