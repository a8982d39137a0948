import json
import os

import pandas as pd

from analysis.core import files


def test_json_round_trip_and_absent_or_broken_files_read_as_none():
    assert files.load_json("t/absent.json") is None
    files.save_json("t/state.json", {"a": [1, 2], "b": None})
    assert files.load_json("t/state.json") == {"a": [1, 2], "b": None}
    (files.data_home() / "t/broken.json").write_text("{not json")
    assert files.load_json("t/broken.json") is None


def test_atomic_writes_leave_no_temporary_files_and_replace_the_old_content(tmp_path):
    path = tmp_path / "deep" / "run.csv"
    files.save_csv(pd.DataFrame({"n": [1, 2]}), path)
    files.save_csv(pd.DataFrame({"n": [3]}), path)
    assert pd.read_csv(path)["n"].tolist() == [3]
    assert os.listdir(path.parent) == ["run.csv"]
    files.write_atomic(tmp_path / "x.json", json.dumps([1]))
    assert json.loads((tmp_path / "x.json").read_text()) == [1]


def test_run_paths_are_stable_per_request_and_differ_between_requests():
    a = files.run_path("lab", "mnist5k", ["mnist5k", 5, [0.9]])
    assert a == files.run_path("lab", "mnist5k", ["mnist5k", 5, [0.9]])
    assert a != files.run_path("lab", "mnist5k", ["mnist5k", 6, [0.9]])
    assert a.parent == files.data_home() / "lab" and a.name.startswith("mnist5k-") and a.suffix == ".csv"
