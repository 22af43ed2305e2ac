"""The facts every rule family reads: kill events, Go package and program facts, deploy
facts (launches and their links to Go programs), drill results. Values, no IO."""
