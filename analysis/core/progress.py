"""The progress callback every long computation accepts."""

from typing import Callable

#: ``progress(fraction in [0, 1], message)``: called as work advances (a page's bar, a CLI's line, a job's file).
Progress = Callable[[float, str], None]
