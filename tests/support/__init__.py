"""Helpers shared by the test modules (fixtures live in tests/conftest.py).

A helper that more than one test module uses lives here, and test modules import only from here,
never from one another: importing a test module from another makes pytest see its fixtures twice
and ties the two modules together.
"""
