"""Open datasets and views in the FiftyOne App from a long-running process.

:func:`launch` starts (or joins) a remote FiftyOne App server on
``address:port`` and returns its :class:`fiftyone.core.session.Session`;
:func:`show` points that session at a dataset or view and returns the link.
A process should keep one session per port (the dashboard caches it with
``st.cache_resource``): a second server on the same port is never started,
and a port held by another program gives a clear :class:`InputError`.

Defaults come from ``LABELDASH_FIFTYONE_ADDRESS`` (``127.0.0.1``) and
``LABELDASH_FIFTYONE_PORT`` (``5151``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request

from analysis.core.errors import InputError
from analysis.data import fo_store
from analysis.data.datasets import connect

DEFAULT_ADDRESS = os.environ.get("LABELDASH_FIFTYONE_ADDRESS", "127.0.0.1")
DEFAULT_PORT = int(os.environ.get("LABELDASH_FIFTYONE_PORT", "5151"))
CONNECT_TIMEOUT_S = 60


def _port_owner(address: str, port: int) -> str:
    """``"free"``, ``"fiftyone"`` (a FiftyOne server answers) or ``"other"``."""
    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) != 0:
            return "free"
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/fiftyone", timeout=2) as r:
            return "fiftyone" if "version" in json.loads(r.read()) else "other"
    except (urllib.error.URLError, ValueError, OSError):
        return "other"


def launch(address: str = DEFAULT_ADDRESS, port: int = DEFAULT_PORT):
    """Start, or join, the FiftyOne App server on ``address:port``.

    Returns a remote ``Session`` with no dataset loaded yet. Raises
    :class:`InputError` when another program holds the port.
    """
    if not 1 <= int(port) <= 65535:
        raise InputError(f"Port {port} is not a valid TCP port (1-65535).")
    if _port_owner(address, int(port)) == "other":
        raise InputError(
            f"Port {port} on {address} is used by another program: choose another FiftyOne App port."
        )
    fo = connect()
    # auto=False: nothing to embed; remote=True: serve the App without opening a browser here.
    session = fo.launch_app(remote=True, address=address, port=int(port), auto=False)
    # The session's event client connects in a background thread once the server answers;
    # showing a dataset before that fails with "Client is not connected", so wait for it.
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not fo_store.session_connected(session):
        if time.monotonic() > deadline:
            raise InputError(f"The FiftyOne App server on {address}:{port} did not answer within "
                             f"{CONNECT_TIMEOUT_S} s; try again, or choose another port.")
        time.sleep(0.1)
    return session


def link(session, address: str | None = None) -> str:
    """The URL a user opens to see ``session``; a wildcard address becomes this host's name."""
    address = address or session.server_address or "127.0.0.1"
    if address in ("0.0.0.0", "::", ""):
        address = socket.gethostname()
    return f"http://{address}:{session.server_port}/"


def show(session, collection) -> str:
    """Show a dataset or view (e.g. ``dataset.select(id)``) in ``session``; return the link."""
    from fiftyone.core.view import DatasetView

    dataset = fo_store.dataset_of(collection)
    if session.dataset is None or session.dataset.name != dataset.name:
        session.dataset = dataset
    if isinstance(collection, DatasetView):
        session.view = collection
    else:
        session.clear_view()
    return link(session)
