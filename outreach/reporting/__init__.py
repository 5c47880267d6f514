"""Reporting: the per-delivery and hourly tallies kept as hits arrive, and the statistics
built from them (per group and variant, human and machine, the hourly series)."""
