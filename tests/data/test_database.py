"""The app's own MongoDB per folder: started once, found again after its starter dies, never another folder's."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

from analysis.data import database

ROOT = Path(__file__).resolve().parents[2]


def _client(port):
    return pymongo.MongoClient(host="127.0.0.1", port=port, serverSelectionTimeoutMS=5000, directConnection=True)


@pytest.fixture
def folder(tmp_path):
    path = (tmp_path / "db").resolve()
    yield path
    database.stop_local(path)


def test_a_folder_gets_one_mongod_that_a_second_caller_reuses(folder):
    port = database.ensure_local(folder)
    assert database._served_folder(_client(port).admin.command("getCmdLineOpts")) == folder
    assert json.loads((folder / database.INFO_FILE).read_text())["port"] == port
    assert database.ensure_local(folder) == port
    assert len(database._mongods_on(folder)) == 1


def test_the_mongod_outlives_the_process_that_started_it_and_is_found_again(folder):
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from analysis.data import database; " \
           f"from pathlib import Path; print(database.ensure_local(Path({str(folder)!r})))"
    starter = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert starter.returncode == 0, starter.stderr
    port = int(starter.stdout.split()[-1])
    _client(port).labeldash_test.kept.insert_one({"decision": "confirmed"})
    (folder / database.INFO_FILE).unlink()  # even without the note, the running mongod of the folder is found
    assert database.ensure_local(folder) == port
    assert _client(port).labeldash_test.kept.find_one()["decision"] == "confirmed"


def test_a_hung_mongod_of_the_folder_is_replaced(folder, monkeypatch):
    database.ensure_local(folder)
    pid = database._mongods_on(folder)[0].pid
    os.kill(pid, signal.SIGSTOP)  # holds the folder's lock but answers nothing
    monkeypatch.setattr(database, "SETTLE_S", 3)
    try:
        new_port = database.ensure_local(folder)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert database._ping(new_port) is not None and [p.pid for p in database._mongods_on(folder)] != [pid]


def test_another_folders_mongod_is_never_used(tmp_path, folder):
    other = (tmp_path / "other").resolve()
    other_port = database.ensure_local(other)
    try:
        # a stale note naming a port that another folder's mongod now holds
        folder.mkdir(parents=True, exist_ok=True)
        (folder / database.INFO_FILE).write_text(json.dumps({"port": other_port}))
        port = database.ensure_local(folder)
        assert port != other_port
        assert database._served_folder(_client(port).admin.command("getCmdLineOpts")) == folder
        target = database.Target(None, folder, "x")
        database.check(target, _client(port))
        with pytest.raises(database.WrongDatabase, match="another program's database"):
            database.check(target, _client(other_port))
    finally:
        database.stop_local(other)


def test_an_external_uri_that_does_not_answer_fails_in_seconds(monkeypatch):
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://user:secret@127.0.0.1:9/")
    monkeypatch.delenv("LABELDASH_DATABASE_DIR", raising=False)
    with pytest.raises(database.DatabaseUnavailable,
                       match=r"not available: the MongoDB at mongodb://user:\*\*\*@127.0.0.1:9/ .* does not answer"):
        database.prepare()
    assert database.configured().describe() == "mongodb://user:***@127.0.0.1:9/, database '" + \
        os.environ["FIFTYONE_DATABASE_NAME"] + "'"
