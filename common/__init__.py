"""Small pieces every stage shares: the user-error type, logging, atomic artifact writes, CLI entry wrapper."""
