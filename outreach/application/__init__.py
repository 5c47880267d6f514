"""Use cases: one function per thing a person can do, shared by the admin, the API and the
command line."""
