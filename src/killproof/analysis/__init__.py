"""Pure statistics over drill samples: trends, leaks, capacity, thrash. No IO, no clock."""
