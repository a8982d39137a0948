"""``python -m analysis.datasets``: importing and listing datasets (:mod:`analysis.data.importers`), under the name the README documents."""

from analysis.data.importers import main

if __name__ == "__main__":
    raise SystemExit(main())
