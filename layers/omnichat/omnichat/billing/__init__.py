"""Prices, budgets and rate limits: what model calls cost and who may still make them."""
