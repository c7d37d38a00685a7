"""Test helpers shared by several test packages (offline fixtures, builders)."""
