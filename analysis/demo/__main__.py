"""``python -m analysis.demo [--size small|full|fast] [--rebuild]``: build (or reuse) the demo dataset and print its size and mAP."""

import argparse
import sys
import time

from analysis.core.errors import DatabaseUnavailable, InputError
from analysis.demo.dataset import DEMO_NAME, SIZES, ensure_demo


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.demo", description="Build the demo dataset.")
    parser.add_argument("--size", choices=SIZES, default="small",
                        help="small (the app's default), full (the larger demo) or fast (tests)")
    parser.add_argument("--fast", action="store_true", help="same as --size fast")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if it exists")
    parser.add_argument("--name", default=DEMO_NAME)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def progress(frac, message):
        print(f"\r{frac:4.0%} {message:<50}", end="", file=sys.stderr, flush=True)

    try:
        ds = ensure_demo(progress, size="fast" if args.fast else args.size, rebuild=args.rebuild, name=args.name)
    except (InputError, DatabaseUnavailable) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
    info = ds.info["demo"]
    print(file=sys.stderr)
    print(f"{ds.name}: {len(ds)} images, mAP@0.5 of the predictions against the clean truth "
          f"{info['map50']:.3f} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
