"""Go source adapter: tree-sitter-go parsing and per-package facts for the KP1xx rules."""
