"""The product tested only as a person uses it: processes, HTTP, the command, the mail."""
