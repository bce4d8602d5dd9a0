"""Ranking volunteers for a need (placeholder of the matching engine's contract)."""
