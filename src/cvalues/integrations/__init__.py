"""Bridges to other evaluation tools (optional extras): ``cvalues.integrations.inspect``."""
