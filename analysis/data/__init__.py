"""Datasets in FiftyOne: connecting, importing (COCO, VOC, YOLO), reading detections in bulk, crops,
learning-curve data sources, the overview and the FiftyOne App; ``fo_store`` holds every private FiftyOne call.
May import :mod:`analysis.core` only.
"""
