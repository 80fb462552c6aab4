"""Stage `features`: the model table (features as of T, label, split).

Reads params: data, features, world.observation_date. Reads data/validated/ and data/raw/ (the
click events are scanned by the engine of ``features.engine``); writes data/features/.
"""

from __future__ import annotations

import time

from churnguard.core.config import PATHS, build, load_params
from churnguard.features.table import FeaturesConfig, RawTables, assemble_feature_table


def main() -> None:
    t0 = time.perf_counter()
    params = load_params()
    cfg = build(FeaturesConfig, params["features"], "features")
    obs = params["world"]["observation_date"] if params["data"]["source"] == "synthetic" else None
    raw = RawTables.read(PATHS.validated / "customers.parquet", PATHS.raw)
    table, schema = assemble_feature_table(raw, params["data"], cfg, obs)
    PATHS.features.mkdir(parents=True, exist_ok=True)
    table.to_parquet(PATHS.features / "customers.parquet", index=False)
    schema.save(PATHS.features / "schema.json")
    for table_name, why in schema.skipped.items():
        print(f"skipped {table_name}: {why}")
    print(
        f"features: {len(table)} customers, {len(schema.numeric)} numeric + {len(schema.categorical)} "
        f"categorical features from {', '.join(schema.sources)} (engine {cfg.engine}, "
        f"{time.perf_counter() - t0:.1f} s)"
    )


if __name__ == "__main__":
    main()
