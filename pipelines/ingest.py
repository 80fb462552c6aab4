"""Stage `ingest`: generate the synthetic world (default) or read your own customer table.

Reads params: data, world. Writes: data/raw/, data/truth/ (synthetic only holds truth).
Sources: ``synthetic``, ``csv``, ``parquet``, ``sql`` (components/sources); a mapped column the
table lacks stops the stage with the setting to change and the table's columns.
"""

from __future__ import annotations

import json
import shutil
import sys

from churnguard.core.config import PATHS, load_params


def ingest_own_table(data: dict) -> None:
    from churnguard.data.ingest import MappingError, ingest_source

    try:
        report = ingest_source(data, PATHS.root, PATHS.raw)
    except (MappingError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"ingest failed: {exc}") from None
    PATHS.truth.mkdir(parents=True, exist_ok=True)
    (PATHS.truth / "README.md").write_text(
        f"{data['source']} source: no ground truth; oracle metrics are not available.\n"
    )
    print(f"ingested {data['source']}:", json.dumps(report.as_dict()))
    print(f"rows: {report.rows_read} read, {report.rows_written} written; de-duplication: {report.dedup}")
    if report.exact_duplicate_rows:
        print(f"WARNING: {report.exact_duplicate_rows} rows were exact copies of an earlier row")
    if report.conflicting_duplicate_ids:
        print(
            f"WARNING: {report.conflicting_duplicate_ids} customer ids had rows with conflicting values; "
            "kept the first row of each"
        )


def main() -> None:
    params = load_params()
    data = params["data"]
    shutil.rmtree(PATHS.raw, ignore_errors=True)
    shutil.rmtree(PATHS.truth, ignore_errors=True)
    if data["source"] == "synthetic":
        from churnguard.core.progress import progress_bars
        from churnguard.world import draw_world, write_world

        world = draw_world(params["world"], int(data["seed"]))
        summary = write_world(world, PATHS.raw, PATHS.truth, progress=progress_bars())
        print("synthetic world:", json.dumps(summary.as_dict()))
    else:
        ingest_own_table(data)


if __name__ == "__main__":
    sys.exit(main())
