"""``python -m analysis.label_errors_fo``: label errors of a FiftyOne dataset (:mod:`analysis.label_errors.fo_adapter`), under the name the README documents."""

from analysis.label_errors.fo_adapter import main

if __name__ == "__main__":
    raise SystemExit(main())
