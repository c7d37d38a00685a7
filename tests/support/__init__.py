"""Support code used only by the test suite (worlds, fixtures, builders, comparisons)."""
