"""Label errors: run the error-mining engine on the current dataset and list the ranked candidates."""

import streamlit as st

from analysis.core.errors import InputError
from analysis.data import datasets
from analysis.label_errors import fo_adapter as label_errors_fo
from analysis.review import store as review
from analysis.review import tables as review_tables
from dashboard import common, trust_ui


# what a reviewer reads first, then the evidence, the box and, last, the ids that link back to FiftyOne
FIRST_COLUMNS = ["filepath", "error_type", "error_score", "label", "error_iou", "x", "y", "w", "h",
                 "label_field"]
ID_COLUMNS = ["error_match_id", "sample_id", "label_id"]


def _table(shown):
    """The candidates: image, type, score and class first, ids last."""
    rest = [c for c in shown.columns if c not in FIRST_COLUMNS + ID_COLUMNS]
    columns = [c for c in FIRST_COLUMNS if c in shown] + rest + [c for c in ID_COLUMNS if c in shown]
    # FiftyOne's boxes are relative: say so, as the CLI writes pixels
    st.dataframe(shown, width="stretch", hide_index=True, column_order=columns, column_config={
        "filepath": st.column_config.TextColumn("image", help="The image file"),
        "error_type": st.column_config.TextColumn("type"),
        "error_score": st.column_config.NumberColumn("score", format="%.2f",
                                                     help="In [0, 1]; higher: more likely an error"),
        "label": st.column_config.TextColumn("class"),
        **{k: st.column_config.NumberColumn(f"{k} (fraction)", format="%.3f", help=f"{what}, as a fraction of the "
                                            f"image's {side} (FiftyOne's relative box)")
           for k, what, side in (("x", "Left edge", "width"), ("y", "Top edge", "height"), ("w", "Width", "width"),
                                 ("h", "Height", "height"))}})


def main():
    ds = common.current_dataset()
    st.title(f"Label errors: {ds.name}")
    st.caption("Compares the ground truth with a model's predictions and ranks likely annotation errors: "
               "badly drawn boxes (low IoU), objects nobody labelled (missing), boxes on nothing (spurious), "
               "wrong classes and duplicate boxes. Scores are in [0, 1]; higher means more likely a real error.")

    gt_field, pred_field = common.truth_and_predictions(ds, None, default_truth=datasets.GT_FIELD,
                                                        truth_label="Ground truth field", truth_help=None,
                                                        need="a ground-truth field")

    crop_classifier = st.checkbox(
        "Second opinion from a crop classifier (class, object or not, where)", value=False,
        help="A small CNN looks at every box with its surroundings and says its class (or background), where the "
             "object's box is and how well the drawn box fits it; each image is judged by a model trained on the other images' labels (cross-validated). "
             "Helps when the detector confuses classes or places boxes loosely. Trains three small models, reading "
             "the images twice (to train, then to judge): 1-3 minutes for 2,000 boxes on 2 cores.")
    if st.button("Find label errors", type="primary", icon=":material/search:"):
        bar = st.progress(0.0, "Ranking error candidates")
        try:
            label_errors_fo.find_label_errors(ds, gt_field=gt_field, pred_field=pred_field,
                                              crop_classifier=crop_classifier,
                                              progress=bar.progress)
        except InputError as e:
            st.error(str(e))
        bar.empty()

    try:
        candidates = label_errors_fo.load_candidates(ds)
    except InputError as e:
        st.error(str(e))
        st.stop()
    run = label_errors_fo.last_run(ds)
    if run is None:
        st.info("No results yet: press **Find label errors**.")
        st.stop()
    # say which fields the results compare: a failed run with other fields leaves the previous results in place
    st.caption(f"Results of the last run: ground truth '{run['gt_field']}' against predictions '{run['pred_field']}', "
               f"{run['finished_at']:%Y-%m-%d %H:%M} UTC, candidates scoring {run['min_score']:g} or more. A label that "
               "is a candidate of several types is counted once, under its strongest.")
    if candidates.empty:
        st.success("The last run found no error candidates.")
        st.stop()

    types = sorted(candidates["error_type"].unique())
    chosen = st.multiselect("Error types", types, default=types)
    shown = candidates[candidates["error_type"].isin(chosen)]
    cols = st.columns(len(types))
    for col, t in zip(cols, types):
        col.metric(t, f"{(candidates['error_type'] == t).sum():,}")
    trust_ui.trust_section(review_tables.review_table(candidates, review.decisions(ds)))
    st.subheader("Candidates")
    _table(shown)
    if "sample_id" in shown and len(shown):
        common.open_in_fiftyone(ds.select(shown["sample_id"].unique().tolist()[:1000], ordered=True),
                                "Open these images in FiftyOne", key="fo_label_errors",
                                help="At most the first 1,000 images of the table, in ranking order.")


main()
