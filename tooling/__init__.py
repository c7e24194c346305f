"""Tools around the project, not part of the `creditrisk` library: what scripts, tests and benchmarks
share (`ports`), and the container check behind `make container-check` (`container_check`).

A top-level package that `make setup` installs with the project (pyproject.toml lists it), so
`python scripts/...`, `python benchmarks/...` and the tests import it without touching `sys.path`;
the images' wheel ships only `creditrisk`.
"""
