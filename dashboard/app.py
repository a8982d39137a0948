"""Labelling decision dashboard: the Streamlit entry point (``streamlit run dashboard/app.py``)."""

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

from dashboard import common  # noqa: E402

st.set_page_config(page_title="Labelling decisions", page_icon=":material/label:", layout="wide")

pages = {
    "Data": [
        st.Page("views/overview.py", title="Dataset overview", icon=":material/grid_view:", default=True),
        st.Page("views/load_data.py", title="Load data", icon=":material/upload:"),
    ],
    "Label quality": [
        st.Page("views/label_errors.py", title="Label errors", icon=":material/report:"),
        st.Page("views/review.py", title="Review errors", icon=":material/fact_check:"),
    ],
    "Planning": [
        st.Page("views/learning_curves.py", title="Learning curves", icon=":material/show_chart:"),
        st.Page("views/budget.py", title="Budget planner", icon=":material/payments:"),
    ],
    "Labelling lab": [
        st.Page("views/active_learning.py", title="Active learning", icon=":material/model_training:"),
        st.Page("views/pseudo_labelling.py", title="Pseudo-labelling", icon=":material/auto_fix_high:"),
        st.Page("views/human_in_the_loop.py", title="Human in the loop", icon=":material/rule:"),
        st.Page("views/consensus.py", title="Consensus with the model", icon=":material/groups:"),
        st.Page("views/prelabelling.py", title="Pre-labelling", icon=":material/edit_square:"),
        st.Page("views/synthetic_data.py", title="Synthetic data", icon=":material/draw:"),
    ],
}
page = st.navigation(pages)
common.sidebar()
page.run()
