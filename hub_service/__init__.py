"""The Submarine Notebook REST API as a JupyterHub service."""
