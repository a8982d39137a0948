"""``python -m analysis.prelabel``: the pre-labelling measurement (:mod:`analysis.lab.prelabelling`), under the name the README documents."""

from analysis.lab.prelabelling import main

if __name__ == "__main__":
    raise SystemExit(main())
