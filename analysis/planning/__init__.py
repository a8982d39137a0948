"""How many labels and what they cost: curve fitting and extrapolation, learning-curve experiments,
the budget planner's cost model, scenarios and report, and measurements from the lab that replace its assumptions.
May import :mod:`analysis.core` and :mod:`analysis.data`.
"""
