"""``python -m analysis.consensus``: consensus with the model (:mod:`analysis.lab.consensus`), under the name the README documents."""

from analysis.lab.consensus import main

if __name__ == "__main__":
    raise SystemExit(main())
