"""Label errors: train a model to find them when there is none (out of fold), run the error-mining engine and list the ranked candidates."""

import streamlit as st

from analysis.core.errors import InputError
from analysis.data import datasets, detections
from analysis.label_errors import fo_adapter as label_errors_fo
from analysis.label_errors import oof_detector as oof
from analysis.review import store as review
from analysis.review import tables as review_tables
from dashboard import common, jobs_ui, trust_ui


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


def _plan(ds, fields):
    """The training settings and their plan (resolution, steps, limits), shown; None when training cannot start."""
    c1, c2 = st.columns(2)
    gt = c1.selectbox("Labels to learn from", fields, key="oof_gt",
                      index=fields.index(datasets.GT_FIELD) if datasets.GT_FIELD in fields else 0)
    folds = c2.number_input("Folds", 2, 10, 3, key="oof_folds",
                            help="Each image is predicted by a model trained on the other folds' images.")
    try:
        plan = oof.plan_training(ds, gt, folds=int(folds))
    except InputError as e:
        st.error(str(e))
        return None
    st.caption(plan["why"])
    for problem in plan["problems"]:
        st.error(problem)
    for warning in plan["warnings"]:
        st.warning(warning)
    return None if plan["problems"] else plan


def _estimate(ds, plan):
    """Time a few training steps here on demand, and say what the whole run would take (an estimate)."""
    key = ("oof_estimate", ds.name, plan["gt_field"], plan["folds"], tuple(plan["resolution"]), plan["steps"])
    if st.button("Estimate the time", key="oof_time", icon=":material/timer:",
                 help="Times a few training steps on this machine (some seconds) and extrapolates."):
        with st.spinner("Timing a few training steps..."):
            st.session_state[key] = oof.estimate_seconds(ds.name, plan)
    est = st.session_state.get(key)
    if est:
        st.caption(f"Estimate: about {jobs_ui.duration(est['total_s'])} on this machine "
                   f"({plan['folds']} x {plan['steps']} steps at {est['seconds_per_step']:.2f} s per step, "
                   "timed just now; other work on the machine changes it).")


@st.fragment(run_every=2)
def _training_progress(name: str):
    """The job's progress per fold while it runs; the page reloads when it ends."""
    job = oof.job_status(name)
    if job.state != "running":
        if st.session_state.get("oof_seen") == "running":
            st.session_state["oof_seen"] = job.state
            st.rerun(scope="app")
        return
    st.session_state["oof_seen"] = "running"
    jobs_ui.progress_bar(job)
    st.caption("Training in the background: it keeps going if you close this tab, and resumes after its last "
               "finished fold if the machine restarts.")


def _oof_behind(ds, run: dict | None) -> dict | None:
    """The last out-of-fold training's record when the last ranking compared its predictions, else None."""
    info = ds.info.get(oof.RUN_KEY)
    return info if info and run and run["pred_field"] == info["pred_field"] else None


def _report(info: dict):
    """How good the out-of-fold models are against the current labels: how far to trust their ranking."""
    st.metric("Out-of-fold mAP@0.5 against the current labels", f"{info['map50']:.3f}",
              help="Each image scored with the predictions of the model that never saw it. Low values: the "
                   "ranking below is mostly the model's own mistakes.")
    st.dataframe([{"class": c, "AP@0.5": ap, "labelled boxes": info["boxes_per_class"].get(c)}
                  for c, ap in info["ap50_per_class"].items()], hide_index=True,
                 column_config={"AP@0.5": st.column_config.NumberColumn(format="%.3f")})
    st.caption(f"{info['predictions']:,} predictions in '{info['pred_field']}' from {info['folds']} models "
               f"({info['resolution'][0]} x {info['resolution'][1]}, {info['steps']} steps each; seconds per "
               f"fold: {', '.join(f'{v:.0f}' for v in info['fold_seconds'].values())}).")


def _train_section(ds):
    """Train a model to find errors: out-of-fold predictions of the project's detector, as a background job."""
    fields = datasets.detection_fields(ds)
    has_model = any(f not in (datasets.GT_FIELD, datasets.CLEAN_FIELD) for f in fields)
    job = oof.job_status(ds.name)
    with st.expander("Train a model to find errors", expanded=not has_model or job.active,
                     icon=":material/model_training:"):
        st.caption("No model yet? The project's small detector is trained here on your own labels, by folds: each "
                   f"image is predicted by a model that never saw it (a model agrees with the mistakes of the "
                   f"images it learnt from). The predictions go to '{oof.PRED_FIELD}', then errors are ranked.")
        if not fields:
            st.warning("This dataset has no boxes (Detections field) to learn from.")
            return
        if job.active:
            _training_progress(ds.name)
            return
        plan = _plan(ds, fields)
        if plan is None:
            return
        _estimate(ds, plan)
        if job.state == "failed":
            st.error(f"The last training failed: {job.error}")
        label = "Resume training" if job.state == "interrupted" else "Train a model to find errors"
        if st.button(label, key="oof_train", icon=":material/play_arrow:"):
            try:
                oof.start_job(ds.name, plan["gt_field"], folds=plan["folds"])
            except InputError as e:
                st.error(str(e))
            st.rerun()
        if job.state == "interrupted":
            st.info(f"The last training stopped part way ({job.message}); it resumes after its last finished fold.")
        info = ds.info.get(oof.RUN_KEY)
        if _oof_behind(ds, label_errors_fo.last_run(ds)):
            st.caption(f"Last training: out-of-fold mAP@0.5 {info['map50']:.3f}, shown per class with the results "
                       "below.")
        elif info:
            _report(info)


def _boxes_without_area(ds, run: dict):
    """Say which boxes the last run left out for having no area, and open them in FiftyOne."""
    fields = {"ground truth": run["gt_field"], "predictions": run["pred_field"]}
    for role, n in run["skipped_without_area"].items():
        if not n:
            continue
        boxes = "1 box" if n == 1 else f"{n:,} boxes"
        st.warning(f"Left out of the ranking: {boxes} in '{fields[role]}' ({role}) with zero or negative width or "
                   "height (they cover nothing, so nothing can overlap them). Such a box is a mistake in itself: "
                   "fix or delete it.")
        common.open_in_fiftyone(detections.without_area_view(ds, fields[role]), f"Open these {role} boxes in FiftyOne",
                                key=f"fo_no_area_{role.replace(' ', '_')}")


def main():
    ds = common.current_dataset()
    st.title(f"Label errors: {ds.name}")
    st.caption("Compares the ground truth with a model's predictions and ranks likely annotation errors: "
               "badly drawn boxes (low IoU), objects nobody labelled (missing), boxes on nothing (spurious), "
               "wrong classes and duplicate boxes. Scores are in [0, 1]; higher means more likely a real error.")
    _train_section(ds)

    gt_field, pred_field = common.truth_and_predictions(ds, None, default_truth=datasets.GT_FIELD,
                                                        truth_label="Ground truth field", truth_help=None,
                                                        need="a ground-truth field",
                                                        get_predictions="Import predictions with your data on the "
                                                        "Load data page, or train a model on these labels above "
                                                        "(**Train a model to find errors**).")

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
    _boxes_without_area(ds, run)
    behind = _oof_behind(ds, run)
    if behind:  # next to the results, not in the training section a finished training folds away
        st.subheader("The model behind these predictions")
        _report(behind)
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
