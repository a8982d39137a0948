"""The demo dataset: scenes composed from real MNIST digits, injected annotation errors, a small
CenterNet-style detector trained on CPU, and the cases the benchmarks use.
May import :mod:`analysis.core` and :mod:`analysis.data`.
"""
