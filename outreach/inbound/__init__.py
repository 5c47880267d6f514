"""Inbound mail: bounces, complaints, auto-replies and mailed unsubscribes."""
