"""Pure judges shared by the use-cases (``drill``, ``watch``): no IO, no clock reads."""
