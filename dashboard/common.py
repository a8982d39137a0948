"""Widgets and cached loaders shared by the pages: dataset choice, FiftyOne App button."""

from __future__ import annotations

import threading

import streamlit as st

from analysis.core.errors import DatabaseUnavailable, InputError
from analysis.data import datasets, detections, fiftyone_app
from analysis.demo import dataset as demo
from dashboard import jobs_ui

DATASET_KEY = "dataset"
_NEXT_DATASET_KEY = "next_dataset"


class _Database:
    """FiftyOne's database for this server process: connected in a background thread, retried after a failure.

    Pages never wait on a database that is down: they read the outcome so far (connected, still trying, or the
    last error) and show it, with a Retry button that wakes the thread at once.
    """

    RETRY_S = 10

    def __init__(self):
        self.fo, self.error = None, None
        self.tried = threading.Event()  # set after the first attempt, whatever its outcome
        self._wake = threading.Event()
        threading.Thread(target=self._connect_until_done, daemon=True, name="labeldash-database").start()

    def _connect_until_done(self):
        while self.fo is None:
            try:
                self.fo = datasets.connect()
                self.error = None
            except DatabaseUnavailable as e:
                self.error = str(e)
            except Exception as e:  # noqa: BLE001 - whatever stops the connection is shown, and retried
                self.error = f"FiftyOne's database is not available ({type(e).__name__}: {str(e)[:300]})."
            self.tried.set()
            if self.fo is None:
                self._wake.wait(self.RETRY_S)
                self._wake.clear()

    def retry(self):
        self._wake.set()


@st.cache_resource(show_spinner=False)
def _database() -> _Database:
    return _Database()


#: Seconds a page waits for the first connection before it says "connecting" (a restart reconnects in ~1 s).
FIRST_WAIT_S = 20


def _database_tried() -> _Database:
    """The database connection after its first attempt (a restarted app reconnects in about a second)."""
    db = _database()
    if db.fo is None and not db.tried.is_set():
        with st.spinner("Connecting to FiftyOne's database..."):
            db.tried.wait(FIRST_WAIT_S)
    return db


def database_or_stop():
    """The ``fiftyone`` module once its database is connected; else say why (with Retry) and stop the page."""
    db = _database_tried()
    if db.fo is not None:
        return db.fo
    if db.error:
        st.error(db.error, icon=":material/database:")
        st.caption(f"Retrying in the background every {db.RETRY_S} s; this page reloads when it connects.")
    else:
        st.info("Still connecting to FiftyOne's database; this page reloads when it is ready.")
    st.button("Retry now", key="db_retry", on_click=db.retry, icon=":material/refresh:")
    _reload_when_connected(db)
    st.stop()


@st.fragment(run_every=2)
def _reload_when_connected(db: _Database):
    if db.fo is not None:
        st.rerun(scope="app")


def dataset_names() -> list[str]:
    """Existing datasets, with the demo first (it is built on first use)."""
    names = datasets.list_datasets()
    return [demo.DEMO_NAME] + [n for n in names if n != demo.DEMO_NAME]


def sidebar():
    """Dataset selector and FiftyOne App settings, on every page."""
    with st.sidebar:
        db = _database_tried()
        if db.fo is None:
            st.caption(":material/database: " + ("FiftyOne's database is not available." if db.error
                                                 else "Connecting to FiftyOne's database..."))
            _database_settings(db)
            return
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
        _database_settings(db)
        if demo.build_status().active:
            demo_build_progress(compact=True)


def _database_settings(db: _Database):
    """Which database the app uses (Database, under the settings), and Retry when it is not connected."""
    with st.expander("Database"):
        st.caption(f"{'Connected to' if db.fo is not None else 'Configured'}: {datasets.where()}")
        if db.fo is None:
            st.button("Retry now", key="db_retry_sidebar", on_click=db.retry, icon=":material/refresh:")
        st.caption("Change it with FIFTYONE_DATABASE_DIR (a folder) or FIFTYONE_DATABASE_URI (a shared MongoDB), "
                   "then restart the app.")


@st.fragment(run_every=2)
def demo_build_progress(compact: bool = False):
    """The demo build's progress while it runs (every page shows it); the app reloads when it is done."""
    job = demo.build_status()
    if job.state == "done" and st.session_state.get("demo_build_seen") == "running":
        st.session_state["demo_build_seen"] = "done"
        st.rerun(scope="app")
    if job.state != "running":
        return
    st.session_state["demo_build_seen"] = "running"
    if compact:
        st.caption(f"Demo build: {job.fraction:.0%}, {jobs_ui.time_left(job)}")
    else:
        jobs_ui.progress_bar(job)
        st.caption(f"Building the demo dataset in the background ({jobs_ui.duration(job.elapsed_s or 0)} so far): "
                   "it keeps going if you close this tab, and every page shows its progress. Pages that do not "
                   "need the demo (Load data, Learning curves, Budget planner, the lab pages on MNIST) work meanwhile.")


def select_dataset(name: str) -> None:
    """Make ``name`` the selected dataset from the next run on (the selector exists already)."""
    st.session_state[_NEXT_DATASET_KEY] = name


def current_dataset():
    """The selected dataset. The demo is built on first use as a background job; until then the page says how far."""
    database_or_stop()
    name = st.session_state.get(DATASET_KEY, demo.DEMO_NAME)
    if name == demo.DEMO_NAME and not demo.is_ready():
        try:
            job = demo.start_build()
        except InputError as e:
            st.error(f"The demo dataset could not be built: {e}")
            st.stop()
        if job.state == "failed":
            st.error(f"The demo dataset could not be built: {job.error}")
            st.button("Try again", key="demo_retry", on_click=demo.start_build, kwargs={"rebuild": True})
            st.stop()
        if job.state != "done" or not demo.is_ready():
            st.title("Building the demo dataset")
            demo_build_progress()
            st.stop()
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
                          truth_help: str | None = TRUTH_HELP, need: str = "a truth field",
                          get_predictions: str = "Import predictions with your data on the Load data page."
                          ) -> tuple[str, str]:
    """Select boxes for the truth field and the predictions field (default: ``predictions``).

    ``default_truth``: the field chosen first (default: the clean truth where there is one, else
    ``ground_truth``); ``key``: prefix of the widget keys (None: Streamlit's own keys). Stops the page
    with a warning, ending with ``get_predictions`` (how to get them), when the dataset has fewer than two
    ``Detections`` fields.
    """
    fields = datasets.detection_fields(ds)
    if len(fields) < 2:
        st.warning(f"This page needs {need} and a predictions field (with confidences). {get_predictions}")
        st.stop()
    truth = default_truth or detections.truth_field(ds)
    c1, c2 = st.columns(2)
    gt = c1.selectbox(truth_label, fields, index=fields.index(truth) if truth in fields else 0,
                      key=key and f"{key}_truth", help=truth_help)
    preds = [f for f in fields if f != gt]
    pred = c2.selectbox("Predictions field", preds, key=key and f"{key}_pred",
                        index=preds.index(datasets.PRED_FIELD) if datasets.PRED_FIELD in preds else 0)
    return gt, pred
