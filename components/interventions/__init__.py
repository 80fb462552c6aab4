"""Interventions: causal uplift per offer, counterfactual explanations, scenario sweeps, budget allocation."""
