"""Alerts on anomalous operations: rules, the evaluating worker, channels and digests."""
