"""Durable records of scheduled job runs: each slot of each job runs once across bot processes."""
