"""The argument parser every command line uses: a bad argument is one line on stderr and exit status 2."""

import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose errors are one line (``error: ...``), like every other bad input."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
