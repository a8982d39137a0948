"""``python -m analysis.learning_curves``: learning-curve experiments and extrapolation (:mod:`analysis.planning.learning_curves`), under the name the README documents."""

from analysis.planning.learning_curves import main

if __name__ == "__main__":
    raise SystemExit(main())
