"""Cython kernels. Each does one thing and has a plain-Python reference in the tests."""
