"""killproof: make Go services stop dying with ``signal: killed``."""
