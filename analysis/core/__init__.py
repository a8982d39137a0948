"""Foundations shared by every other package: input errors, files and caches under the data folder,
box geometry and one-to-one matching, the progress type, splits, the CLI parser and card rendering.
Imports nothing else from ``analysis`` (numpy, pandas and Pillow only).
"""
