"""Stage `features`: the model table (features as of T, label, split).

Reads params: data, features, world.observation_date. Writes data/features/.
"""

from __future__ import annotations

from churnguard.core.config import PATHS, load_params
from churnguard.features.table import build_feature_table


def main() -> None:
    params = load_params()
    obs = params["world"]["observation_date"] if params["data"]["source"] == "synthetic" else None
    table, schema = build_feature_table(
        PATHS.validated / "customers.parquet", PATHS.raw, params["data"], params["features"], obs
    )
    PATHS.features.mkdir(parents=True, exist_ok=True)
    table.to_parquet(PATHS.features / "customers.parquet", index=False)
    schema.save(PATHS.features / "schema.json")
    for table_name, why in schema.skipped.items():
        print(f"skipped {table_name}: {why}")
    print(
        f"features: {len(table)} customers, {len(schema.numeric)} numeric + {len(schema.categorical)} "
        f"categorical features from {', '.join(schema.sources)}"
    )


if __name__ == "__main__":
    main()
