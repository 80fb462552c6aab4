"""Adversarial hardening: threat bounds, GAN and PGD attacks, robust model, anomaly detectors."""
