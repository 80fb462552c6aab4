"""The one vocabulary: column names of the model table and the offers of the retention campaign.

Every area spells these names through this module, so renaming a column or adding an offer is one
edit here (plus the world's true effect of a new offer, see docs/CONTRIBUTING.md).
"""

from __future__ import annotations

# Columns of the model table (data/features/customers.parquet) that every stage reads.
ID = "customer_id"
LABEL = "churned"
SPLIT = "split"

# The retention offers of the randomized campaign, in the order reports list them.
OFFERS: tuple[str, ...] = ("discount_10", "discount_20", "feature_upgrade", "contract_upgrade", "retention_call")
NO_OFFER = "none"  # the campaign's control arm
NOT_IN_CAMPAIGN = "not_in_campaign"  # customers the campaign did not reach (also untreated)
ARMS: tuple[str, ...] = (NO_OFFER, *OFFERS)
CONTROL_ARMS: tuple[str, ...] = (NO_OFFER, NOT_IN_CAMPAIGN)

# A customer's profile as the world writes it (customers.parquet), known from the first day.
PROFILE: tuple[str, ...] = ("age", "income_band", "region", "signup_channel", "plan", "contract", "payment_method")

# One offer recommendation (the interventions part's answer per customer, ranked best first).
RECOMMENDATION: tuple[str, ...] = (
    ID,
    "offer",
    "p_before",
    "p_after",
    "uplift",
    "uplift_low",
    "uplift_high",
    "expected_saved_value",
    "cost",
    "net_value",
    "benefit_cost_ratio",
    "rank",
)

# The bundle's named prediction columns, in the order serving's answers and the Python API's frames list them.
NAMED_SCORES: tuple[str, ...] = (
    "churn_probability",
    "base_probability",
    "coldstart_probability",
    "coldstart_source",
    "protection_verdict",
    "anomaly_score",
    "attack_type",
    "recommended_action",
    "hardened_probability",
)
