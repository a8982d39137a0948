"""Labelling-lab pages for human in the loop, consensus and pre-labelling, and their hand-over to the planner (AppTest)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.planning import measurements

VIEWS = Path(__file__).resolve().parents[2] / "dashboard/views"


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch):
    """A data folder per test: no saved run or measurement from other tests."""
    monkeypatch.setenv("LABELDASH_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def error_dataset(tmp_path_factory):
    from conftest import build_error_dataset

    return build_error_dataset(tmp_path_factory.mktemp("lab"), "lab-pages-errors").name


def _page(name: str, dataset: str | None = None) -> AppTest:
    at = AppTest.from_file(str(VIEWS / name), default_timeout=180)
    if dataset:
        at.session_state["dataset"] = dataset
    return at


def test_human_in_the_loop_classification_feeds_the_planner():
    at = _page("human_in_the_loop.py")
    at.session_state["hitl_source"] = "digits"
    at.session_state["hitl_seeds"] = 1
    at.session_state["hitl_target"] = 0.99
    at.run()
    assert not at.exception and at.title[0].value == "Human in the loop"
    at.button(key="hitl_run").click().run()
    assert not at.exception and not at.error
    assert any("Simulated." in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 2 and len(at.dataframe) == 1
    assert any("people label" in m.value and "99.00%" in m.value for m in at.markdown)
    at.button(key="hitl_use").click().run()
    assert not at.exception and "human share" in at.success[0].value
    stored = measurements.load()["human_share"]
    assert 0 <= stored["value"] < 1 and "human in the loop on Simulated: SVM" in stored["source"]

    plan = _page("budget.py").run()
    assert not plan.exception
    field = plan.number_input(key="bp_a_human_share")
    assert field.value == pytest.approx(stored["value"]) and field.disabled


def test_human_in_the_loop_detection_says_when_nothing_is_provable(error_dataset):
    at = _page("human_in_the_loop.py", error_dataset)
    at.session_state["hitl_mode"] = "detection"
    at.session_state["hitl_runs"] = 5
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="hitl_truth").value == "ground_truth"
    assert len(at.get("plotly_chart")) == 2
    assert any("needs at least" in w.value for w in at.warning)  # 16 boxes cannot prove 99.9%
    at.button(key="hitl_use").click().run()
    assert measurements.load()["human_share"]["value"] == 1.0


def test_consensus_simulation_and_bad_settings():
    at = _page("consensus.py")
    for key, value in {"cs_source": "digits", "cs_seeds": 1, "cs_workers": 4, "cs_annotators": 5}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception and at.title[0].value == "Consensus with the model"
    at.button(key="cs_run").click().run()
    assert not at.exception and "annotators per item (5) <= workers (4)" in at.error[0].value
    at.session_state["cs_annotators"] = 2
    at.run()
    at.button(key="cs_run").click().run()
    assert not at.exception and not at.error
    assert any("Simulated." in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert "Majority vote + model" in table.columns and list(table["overlap"]) == [1, 2]
    assert any("people alone need" in m.value for m in at.markdown)
    at.button(key="cs_use").click().run()
    assert not at.exception and "annotators per item" in at.success[0].value
    stored = measurements.load()["overlap"]
    assert stored["value"] in (1.0, 2.0) and stored["source"].startswith("consensus on simulated annotators on ")


def test_prelabelling_page_feeds_the_planner(error_dataset):
    at = _page("prelabelling.py", error_dataset).run()
    assert not at.exception and not at.error and at.title[0].value == f"Pre-labelling: {error_dataset}"
    assert len(at.get("plotly_chart")) == 2
    assert any("faster" in m.value for m in at.markdown)
    assert any("Anchoring risk" in m.value and "compared against **ground\\_truth**" in m.value for m in at.markdown)
    at.number_input(key="pre_sec_fix").set_value(3.0).run()
    assert not at.exception
    at.button(key="pre_use").click().run()
    assert not at.exception and "measured" in at.success[0].value
    stored = measurements.load()
    assert stored["prelabel_acceptance"]["value"] == pytest.approx(15 / 16)
    assert stored["prelabel_speedup"]["value"] >= 1 and stored["prelabel_speedup"]["detail"]["seconds"]["fix"] == 3.0


def test_new_lab_pages_run_inside_the_app(error_dataset):
    at = AppTest.from_file(str(VIEWS.parent / "app.py"), default_timeout=180)
    at.session_state["dataset"] = error_dataset
    for page, title in [("human_in_the_loop.py", "Human in the loop"), ("consensus.py", "Consensus with the model"),
                        ("prelabelling.py", f"Pre-labelling: {error_dataset}")]:
        at.switch_page(f"views/{page}").run()
        assert not at.exception and at.title[0].value == title


def test_uploaded_csvs_and_their_messages():
    at = _page("human_in_the_loop.py")
    at.session_state["hitl_mode"] = "csv"
    at.session_state["hitl_target"] = 0.99
    at.run()
    at.file_uploader(key="hitl_csv").set_value(("s.csv", b"confidence,correct\n0.9,maybe\n", "text/csv")).run()
    assert not at.exception and "row 2 holds 'maybe'" in at.error[0].value
    rows = "".join(f"{1 - i / 1000},{int(i < 800)}\n" for i in range(1000))
    at.file_uploader(key="hitl_csv").set_value(("s.csv", f"confidence,correct\n{rows}".encode(), "text/csv")).run()
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 2
    assert any("people label **20%**" in m.value for m in at.markdown)

    cs = _page("consensus.py")
    cs.session_state["cs_mode"] = "csv"
    cs.session_state["cs_csv_seeds"] = 1
    cs.run()
    cs.file_uploader(key="cs_csv").set_value(("a.csv", b"task,worker,label\n1,ann,cat\n2,ann,dog\n", "text/csv")).run()
    assert not cs.exception and "only one annotator" in cs.error[0].value
    lines = ["task,worker,label,gold"]
    for t in range(40):
        truth = "cat" if t % 2 else "dog"
        lines += [f"{t},ann,{truth},{truth}", f"{t},bob,{'dog' if t % 3 else truth},{truth}",
                  f"{t},cy,{'cat' if t % 5 else truth},{truth}", f"{t},net,{truth},{truth}"]
    cs.file_uploader(key="cs_csv").set_value(("a.csv", "\n".join(lines).encode(), "text/csv")).run()
    assert not cs.exception and not cs.error
    cs.selectbox(key="cs_model_worker").set_value("net").run()
    assert not cs.exception and not cs.error and len(cs.get("plotly_chart")) == 1
    assert "Dawid-Skene + model" in cs.dataframe[0].value.columns
