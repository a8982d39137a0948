"""The labelling lab: simulations that measure what the planner otherwise assumes (active learning,
pseudo-labelling, human in the loop, consensus with the model, pre-labelling), with their shared features.
May import every lower package (core, data, planning); never the dashboard.
"""
