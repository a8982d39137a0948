"""``python -m analysis.pseudo_labels``: the pseudo-labelling simulation (:mod:`analysis.lab.pseudo_labelling`), under the name the README documents."""

from analysis.lab.pseudo_labelling import main

if __name__ == "__main__":
    raise SystemExit(main())
