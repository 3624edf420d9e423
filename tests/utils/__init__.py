"""Small typed builders and helpers shared by the tests."""
