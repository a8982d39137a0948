"""Finding likely annotation errors in object-detection labels from a model's predictions: the engine
by stage (pairs, calibration, evidence, candidates), the crop classifier's second opinion, COCO files, FiftyOne.
May import :mod:`analysis.core` and :mod:`analysis.data` (``python -m analysis.label_errors``: the COCO CLI).
"""
