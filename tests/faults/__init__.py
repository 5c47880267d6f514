"""Faults injected on private Redis, PostgreSQL and SMTP servers under real worker processes."""
