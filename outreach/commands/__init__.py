"""The command line: every `outreach …` command group, registered by `registry` (which
create_app calls), and what the groups share (`support`)."""
