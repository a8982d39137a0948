"""Reviewers' decisions on label-error candidates: the decision store on the labels in FiftyOne,
reviewers' claims (who has which candidate open), tables for the gallery, a reviewer's drawn box (clipping,
snapping with OpenCV), and the exports (decisions, corrected COCO).
May import :mod:`analysis.core`, :mod:`analysis.data` and :mod:`analysis.label_errors`.
"""
