"""The public pages (sign-up, confirmation, preferences, unsubscribe, privacy requests),
the tracking endpoints, and the WSGI middleware that answers pixels and clicks first."""
