#!/usr/bin/env python3
"""`make container-check`: build the three images and run them as `docker compose up --build` does
(`tooling.container_check.cli` says how; `--help` lists the options)."""

from __future__ import annotations

import sys

from tooling.container_check.cli import main

if __name__ == "__main__":
    sys.exit(main())
