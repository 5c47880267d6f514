"""Administrator accounts: users, API tokens, admin sessions and the sign-in throttle."""
