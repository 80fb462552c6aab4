"""Stage `ingest`: generate the synthetic world (default) or ingest a Telco-style CSV.

Reads params: data, world. Writes: data/raw/, data/truth/ (synthetic only holds truth).
"""
from __future__ import annotations

import json
import shutil

from components.config import PATHS, load_params


def main() -> None:
    params = load_params()
    data = params["data"]
    shutil.rmtree(PATHS.raw, ignore_errors=True)
    shutil.rmtree(PATHS.truth, ignore_errors=True)
    if data["source"] == "synthetic":
        from components.progress import progress_bars
        from components.world import generate_world

        summary = generate_world(params["world"], int(data["seed"]), PATHS.raw, PATHS.truth,
                                 progress=progress_bars())
        print("synthetic world:", json.dumps(summary.as_dict()))
    elif data["source"] == "csv":
        from components.ingest import ingest_csv

        report = ingest_csv(data["csv"], PATHS.root, PATHS.raw)
        PATHS.truth.mkdir(parents=True, exist_ok=True)
        (PATHS.truth / "README.md").write_text("CSV source: no ground truth; oracle metrics are not available.\n")
        print("ingested CSV:", json.dumps(report.as_dict()))
        if report.duplicate_ids:
            print(f"WARNING: {report.duplicate_ids} duplicated customer ids dropped "
                  f"({report.conflicting_duplicate_ids} with conflicting values); kept the first row of each")
    else:
        raise SystemExit(f"data.source must be 'synthetic' or 'csv', got {data['source']!r}")


if __name__ == "__main__":
    main()
