"""Dataset overview: counts per class, a sample grid with boxes, and FiftyOne App links."""

import html

import plotly.express as px
import streamlit as st
from PIL import Image

from analysis.core import render
from analysis.data import datasets, overview
from analysis.demo import dataset as demo
from dashboard import common

GRID_SIZE = 12


@st.cache_data(show_spinner=False, ttl=60)
def _summary(name: str, modified) -> dict:
    return datasets.summary(datasets.load(name))


@st.cache_data(show_spinner=False, ttl=60)
def _class_counts(name: str, modified):
    return overview.boxes_per_class(datasets.load(name))


@st.cache_data(show_spinner=False, ttl=60)
def _grid(name: str, modified, gt_field, pred_field, offset):
    return overview.sample_boxes(datasets.load(name), gt_field, pred_field, GRID_SIZE, offset)


@st.cache_data(show_spinner=False, max_entries=512)
def _rendered(filepath: str, gt, predictions):
    try:
        image = Image.open(filepath)
        image.load()
    except (OSError, ValueError):
        return None
    return render.draw_boxes(image, gt, predictions, scale=max(1.0, 256 / max(image.size)))


def _larger_demo(ds):
    """The demo starts small (the first answer in minutes); the larger one builds in the background on request."""
    if ds.info.get("demo_size", "small") != "small" or demo.build_status().active:
        return
    demo_info = ds.info.get("demo", {})
    if st.button("Build the larger demo in the background", key="ov_full_demo", icon=":material/upgrade:",
                 help=f"This demo: {demo_info.get('n_train', '?')} training scenes, "
                      f"{demo_info.get('detector', {}).get('train_steps', '?')} detector steps. The larger one has "
                      "3,000 and 900 (a stronger detector); it replaces this one when it is done, and the pages "
                      "show its progress and the time left at the rate measured on this machine."):
        demo.start_build("full", rebuild=True)
        st.rerun()


def main():
    ds = common.current_dataset()
    modified = (len(ds), ds.last_modified_at)  # cache key; entries also expire (ttl)
    st.title(f"Dataset overview: {ds.name}")
    note = ds.info.get("synthetic_note")
    if note:
        demo_info = ds.info.get("demo", {})
        st.info(f"{note} Detector mAP@0.5 against the clean truth: {demo_info.get('map50', float('nan')):.3f}.",
                icon=":material/science:")
        _larger_demo(ds)

    summary = _summary(ds.name, modified)
    fields = list(summary["fields"])
    if not len(ds):
        st.warning("This dataset has no samples. Load data into it on the Load data page.")
        st.stop()

    cols = st.columns(4)
    cols[0].metric("Images", f"{summary['samples']:,}")
    cols[1].metric("Classes", len(summary["classes"]))
    # The usual ground-truth and prediction fields first, then the others.
    headline = sorted(fields, key=lambda f: (f not in (datasets.GT_FIELD, datasets.PRED_FIELD), f))[:2]
    for col, field in zip(cols[2:], headline):
        col.metric(f"Boxes in {field}", f"{summary['fields'][field]:,}")

    gt_default = fields.index(datasets.GT_FIELD) if datasets.GT_FIELD in fields else 0
    c1, c2 = st.columns(2)
    gt_field = c1.selectbox("Ground truth field", fields or [None], index=gt_default if fields else 0)
    pred_options = [None] + [f for f in fields if f != gt_field]
    pred_field = c2.selectbox(
        "Predictions field", pred_options,
        index=pred_options.index(datasets.PRED_FIELD) if datasets.PRED_FIELD in pred_options else 0,
        format_func=lambda f: "none" if f is None else f,
    )

    counts = _class_counts(ds.name, modified)
    shown = counts[counts["field"].isin([gt_field, pred_field])]
    if len(shown):
        fig = px.bar(shown, x="label", y="boxes", color="field", barmode="group",
                     color_discrete_sequence=["#0072B2", "#E69F00", "#009E73"],
                     labels={"label": "class", "boxes": "boxes", "field": "field"},
                     title="Boxes per class")
        fig.update_xaxes(type="category")
        st.plotly_chart(fig, width="stretch")

    st.subheader("Samples")
    st.caption("Ground truth: solid blue boxes, class above. Predictions: dashed orange boxes, class and "
               "confidence below.")
    pages = max(1, -(-len(ds) // GRID_SIZE))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="overview_page")
    items = _grid(ds.name, modified, gt_field, pred_field, (page - 1) * GRID_SIZE)
    for row in range(0, len(items), 4):
        for col, item in zip(st.columns(4), items[row:row + 4]):
            with col:
                image = _rendered(item["filepath"], item["gt"], item["predictions"])
                name = item["filepath"].rsplit("/", 1)[-1]
                if image is None:
                    st.warning(f"Image file missing or unreadable: {html.escape(item['filepath'])}")
                else:
                    st.image(image, caption=f"{name} · {len(item['gt'])} GT · {len(item['predictions'])} pred",
                             width="stretch")

    st.subheader("Open in FiftyOne")
    c1, c2, c3 = st.columns(3)
    with c1:
        common.open_in_fiftyone(ds, "Open dataset", key="fo_dataset")
    with c2:
        classes = st.multiselect("Classes", summary["classes"], key="fo_classes")
        if classes and gt_field:
            from fiftyone import ViewField as F

            view = ds.filter_labels(gt_field, F("label").is_in(classes))
            common.open_in_fiftyone(view, f"Open images with {len(classes)} class(es)", key="fo_class_view")
    with c3:
        picked = st.selectbox("One image", items, format_func=lambda it: it["filepath"].rsplit("/", 1)[-1],
                              key="fo_one_image")
        if picked:
            common.open_in_fiftyone(ds.select(picked["id"]), "Open this image", key="fo_one")


main()
