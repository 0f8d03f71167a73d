"""Tornado handlers: HTTP in, use-cases called, the Submarine envelope out."""
