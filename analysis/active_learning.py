"""``python -m analysis.active_learning``: the active-learning simulation (:mod:`analysis.lab.active_learning`), under the name the README documents."""

from analysis.lab.active_learning import main

if __name__ == "__main__":
    raise SystemExit(main())
