"""Widgets and cached loaders shared by the pages: dataset choice, FiftyOne App button."""

from __future__ import annotations

import streamlit as st

from analysis.core.errors import DatabaseUnavailable, InputError
from analysis.data import datasets, detections, fiftyone_app
from analysis.demo import dataset as demo

DATASET_KEY = "dataset"
_NEXT_DATASET_KEY = "next_dataset"


def database_or_stop():
    """Connect to FiftyOne's database, or explain what is wrong and stop the page."""
    try:
        return _connection()
    except DatabaseUnavailable as e:
        st.error(str(e), icon=":material/database:")
        st.stop()


@st.cache_resource(show_spinner="Starting FiftyOne's database...")
def _connection():
    return datasets.connect()


def dataset_names() -> list[str]:
    """Existing datasets, with the demo first (it is built on first use)."""
    names = datasets.list_datasets()
    return [demo.DEMO_NAME] + [n for n in names if n != demo.DEMO_NAME]


def sidebar():
    """Dataset selector and FiftyOne App settings, on every page."""
    with st.sidebar:
        try:
            names = dataset_names()
        except DatabaseUnavailable as e:
            st.error(str(e), icon=":material/database:")
            return
        if "_dataset_from_url" not in st.session_state:
            # first run of a session (a reload, a shared link): the URL names the dataset
            st.session_state["_dataset_from_url"] = True
            if st.query_params.get("dataset") in names:
                st.session_state[DATASET_KEY] = st.query_params["dataset"]
        if st.session_state.get(_NEXT_DATASET_KEY) in names:
            st.session_state[DATASET_KEY] = st.session_state.pop(_NEXT_DATASET_KEY)
        if st.session_state.get(DATASET_KEY) not in names:
            st.session_state[DATASET_KEY] = demo.DEMO_NAME
        st.selectbox("Dataset", names, key=DATASET_KEY,
                     format_func=lambda n: f"{n} (demo)" if n == demo.DEMO_NAME else n,
                     help="FiftyOne datasets in this database. Add your own on the Load data page.")
        st.query_params["dataset"] = st.session_state[DATASET_KEY]
        with st.expander("FiftyOne App settings"):
            st.text_input("Address", fiftyone_app.DEFAULT_ADDRESS, key="fo_address",
                          help="127.0.0.1 serves this machine only; 0.0.0.0 lets others on your network connect.")
            st.number_input("Port", 1024, 65535, fiftyone_app.DEFAULT_PORT, key="fo_port")


def select_dataset(name: str) -> None:
    """Make ``name`` the selected dataset from the next run on (the selector exists already)."""
    st.session_state[_NEXT_DATASET_KEY] = name


def current_dataset():
    """The selected dataset, building the demo on first use with a progress bar."""
    database_or_stop()
    name = st.session_state.get(DATASET_KEY, demo.DEMO_NAME)
    if name == demo.DEMO_NAME and not demo.is_ready():
        bar = st.progress(0.0, "Building the demo dataset (first start only, about 2-3 minutes)")
        try:
            demo.ensure_demo(progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), m))
        except InputError as e:
            st.error(f"The demo dataset could not be built: {e}")
            st.stop()
        bar.empty()
    try:
        return datasets.load(name)
    except InputError as e:
        st.error(str(e))
        st.stop()


@st.cache_resource(show_spinner="Starting the FiftyOne App server...")
def _app_session(address: str, port: int):
    # One session per address and port for the whole Streamlit process: launching twice reuses it.
    return fiftyone_app.launch(address, port)


def open_in_fiftyone(collection, label: str, key: str, help: str | None = None):
    """A button that shows ``collection`` (dataset or view) in the FiftyOne App and links to it."""
    if st.button(label, key=key, icon=":material/open_in_new:", help=help):
        try:
            session = _app_session(st.session_state.get("fo_address", fiftyone_app.DEFAULT_ADDRESS),
                                   int(st.session_state.get("fo_port", fiftyone_app.DEFAULT_PORT)))
            url = fiftyone_app.show(session, collection)
        except InputError as e:
            st.error(str(e))
            return
        st.session_state[f"{key}_url"] = url
    url = st.session_state.get(f"{key}_url")
    if url:
        st.link_button("Open the FiftyOne App", url, icon=":material/link:")
        st.caption(f"FiftyOne App: {url}")


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$:"})


def md_escape(text) -> str:
    """``text`` shown literally inside Markdown (label names, comments and paths are user data)."""
    return str(text).translate(_MARKDOWN_SPECIAL)


TRUTH_HELP = ("What the boxes are checked against. The demo's clean_ground_truth holds its true boxes; "
              "ground_truth holds the labels with their injected errors.")


def truth_and_predictions(ds, key: str | None, *, default_truth: str | None = None, truth_label: str = "Truth field",
                          truth_help: str | None = TRUTH_HELP, need: str = "a truth field") -> tuple[str, str]:
    """Select boxes for the truth field and the predictions field (default: ``predictions``).

    ``default_truth``: the field chosen first (default: the clean truth where there is one, else
    ``ground_truth``); ``key``: prefix of the widget keys (None: Streamlit's own keys). Stops the page
    with a warning when the dataset has fewer than two ``Detections`` fields.
    """
    fields = datasets.detection_fields(ds)
    if len(fields) < 2:
        st.warning(f"This page needs {need} and a predictions field (with confidences). "
                   "Import predictions with your data on the Load data page.")
        st.stop()
    truth = default_truth or detections.truth_field(ds)
    c1, c2 = st.columns(2)
    gt = c1.selectbox(truth_label, fields, index=fields.index(truth) if truth in fields else 0,
                      key=key and f"{key}_truth", help=truth_help)
    preds = [f for f in fields if f != gt]
    pred = c2.selectbox("Predictions field", preds, key=key and f"{key}_pred",
                        index=preds.index(datasets.PRED_FIELD) if datasets.PRED_FIELD in preds else 0)
    return gt, pred
