"""Cold start: demographic clusters, a GNN over the referral graph, and their ensemble.

- :mod:`churnguard.coldstart.clusters`: demographic clustering (k chosen by silhouette),
  per-cluster churn priors and profiles, one-call assignment of an unseen customer.
- :mod:`churnguard.coldstart.gnn`: node features, GATv2 / GraphSAGE models over the referral
  graph, and the inductive ``inference()`` path for new customers.
- :mod:`churnguard.coldstart.gnn_training`: mini-batch, neighbour-sampled (``NeighborLoader``),
  DDP-ready training.
- :mod:`churnguard.coldstart.store`: the known referral graph as memory-mapped arrays beside the part.
- :mod:`churnguard.coldstart.ensemble`: the stacking of the components' logits.
- :mod:`churnguard.coldstart.part`: the bundle part ``coldstart`` (order 10): cluster prior,
  GBM on demographics + hand-made graph features, GNN, and their stacked ensemble.
- :mod:`churnguard.coldstart.training`: fitting the part (pure: frames and a typed config in).
- :mod:`churnguard.coldstart.evaluation`: holdout cold-start metrics beside the oracle.
- :mod:`churnguard.coldstart.config`: typed settings of the ``cluster``, ``train_gnn`` and
  ``evaluate_coldstart`` params sections.
"""
