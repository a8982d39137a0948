"""``python -m analysis.hitl``: the human-in-the-loop measurement (:mod:`analysis.lab.human_in_the_loop`), under the name the README documents."""

from analysis.lab.human_in_the_loop import main

if __name__ == "__main__":
    raise SystemExit(main())
