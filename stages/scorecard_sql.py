"""DVC stage `scorecard_sql` (`make scorecard-sql`): the scorecard benchmark as one SQL SELECT."""

from __future__ import annotations

import sys
from pathlib import Path

from creditrisk.io import atomic_write_text
from creditrisk.modeling.bundle import ArtifactError, load_bundle
from creditrisk.modeling.scorecard_sql import scorecard_select, ScorecardSqlError, ScorecardSqlParams
from creditrisk.params import ParamsError, load_params, section


def main() -> None:
    config = section(load_params(), "scorecard_sql", ScorecardSqlParams)
    try:
        bundle = load_bundle(Path(config.model_path))
        statement = scorecard_select(bundle, config.table)
    except (ArtifactError, ScorecardSqlError) as error:
        sys.exit(f"scorecard_sql: {error}")
    atomic_write_text(Path(config.output), statement)
    print(f"scorecard_sql: wrote {config.output} ({len(statement.splitlines())} lines) from {config.model_path}, "
          f"reading table {config.table}")


if __name__ == "__main__":
    try:
        main()
    except ParamsError as error:
        sys.exit(f"scorecard_sql: {error}")
