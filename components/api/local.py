"""The in-process client: one loaded model version scored in this Python process.

``churnguard.load()`` (:func:`churnguard.api.load`) builds it. Scoring is the bundle's own
``predict_columns`` on rows merged exactly as serving merges them (:mod:`churnguard.api.rows`); what
this adds on top is gathering the rows and wrapping the scores in a frame (benchmarks/api.py measures it).
"""

from __future__ import annotations

import shutil
import weakref
from typing import Any, Literal

import pandas as pd

from churnguard.api.base import ChurnguardAPI
from churnguard.api.errors import MissingPart
from churnguard.api.inputs import Customer
from churnguard.api.model import LoadedModel
from churnguard.api.results import Dependencies, Explanation, Health, Scored
from churnguard.api.rows import BatchTable, OnlineStore, RowBuilder, Rows
from churnguard.api.tables import explanations, offers_frame, top_offers


class Churnguard(ChurnguardAPI):
    """The API on a model loaded in this process (see :class:`~churnguard.api.base.ChurnguardAPI`)."""

    def __init__(
        self,
        model: LoadedModel,
        batch: BatchTable,
        online: OnlineStore | None = None,
        out_of_bounds: Literal["reject", "flag"] = "reject",
        bounds_margin: float = 0.5,
    ):
        from churnguard.serving.validation import accepted_ranges  # serving's rule for request values

        self.model, self.batch, self.online = model, batch, online
        self.builder = RowBuilder(
            model, batch, online, accepted_ranges(model.bounds, bounds_margin), out_of_bounds == "flag"
        )
        self._cleanup = weakref.finalize(self, shutil.rmtree, model.local_dir or "", True) if model.local_dir else None

    @property
    def model_version(self) -> str:
        return self.model.version

    @property
    def parts(self) -> tuple[str, ...]:
        return self.model.parts

    def rows(self, customers: list[Customer]) -> Rows:
        return self.builder.build(customers)

    def _score(self, customers: list[Customer]) -> list[Scored]:
        rows = self.rows(customers)
        scores = self.model.bundle.predict_columns(rows.cols, rows.n)
        ids = [c.customer_id for c in customers]
        return [Scored(ids, scores, rows.info, self.model.version, rows.degraded, self.model.parts)]

    def _part(self, name: str) -> Any:
        part = self.model.bundle.part(name)
        if part is None:
            raise MissingPart(name, self.model.version, self.model.parts)
        return part

    def _offers(self, customers: list[Customer], top_k: int) -> pd.DataFrame:
        part = self._part("interventions")
        table = part.recommend(self.rows(customers).frame())
        return offers_frame(top_offers(table, [c.customer_id for c in customers], top_k), self.model.version)

    def _explain(self, customers: list[Customer]) -> list[Explanation]:
        part = self._part("interventions")
        rows = self.rows(customers)
        imputed = {c.customer_id: m for c, m in zip(customers, rows.info.imputed_features)}
        return explanations(part.explain(rows.frame()), imputed, self.model.version)

    def health(self) -> Health:
        deps = Dependencies(
            registry="up" if self.model.from_registry else "disabled",
            redis=self.online.status() if self.online is not None else "disabled",
            batch_features=self.batch.status,
        )
        healthy = all(v in ("up", "disabled") for v in (deps.registry, deps.redis, deps.batch_features))
        return Health(
            status="ok" if healthy else "degraded",
            model_name=self.model.name,
            alias=self.model.alias,
            version=self.model.version,
            uri=self.model.uri,
            parts=self.model.parts,
            unevaluated_parts=self.model.unevaluated,
            dependencies=deps,
            last_error=self.batch.error or (self.online.last_error if self.online is not None else None),
        )

    def close(self) -> None:
        """Remove the downloaded version (also done when the client is garbage-collected)."""
        if self._cleanup is not None:
            self._cleanup()

    def __repr__(self) -> str:
        return f"Churnguard({self.model.uri}, version {self.model.version}, parts {', '.join(self.model.parts)})"
