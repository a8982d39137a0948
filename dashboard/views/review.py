"""Review label errors: ranked galleries of candidates that reviewers confirm or dismiss."""

import plotly.graph_objects as go
import streamlit as st

from analysis.core import render
from analysis.core.errors import InputError
from analysis.core.files import data_home
from analysis.data import datasets
from analysis.label_errors import fo_adapter as label_errors_fo
from analysis.review import exports as review_exports
from analysis.review import store as review
from analysis.review import tables as review_tables
from dashboard import common

PAGE_SIZE = 24
COLUMNS = 4
VIEWS = ("One by one", "Gallery")
BAR_COLORS = {"confirmed": "#D55E00", "dismissed": "#999999", "pending": "#56B4E9"}  # Okabe-Ito


@st.cache_resource(max_entries=4, show_spinner="Reading the candidates")
def _candidates(name: str, finished_at: str | None):
    # finished_at keys the cache: a new engine run gives new candidates. A resource, not data: one shared,
    # never modified table instead of a copy per rerun (~30 ms for 50,000 candidates)
    return review_tables.indexed_candidates(label_errors_fo.load_candidates(datasets.load(name)))


@st.cache_data(max_entries=2000, show_spinner=False)
def _card(filepath, gt, predictions, size):
    try:
        return render.card_png(filepath, gt, predictions, size=size, cache_dir=data_home() / "cache" / "cards")
    except OSError:
        return None


def _boxes_for_card(row, gt_field):
    """The candidate's box and its supporting box, in labelled styles."""
    own = [row["x"], row["y"], row["w"], row["h"]]
    if row["label_field"] == gt_field:
        gt = ((f"GT {row['label']}", own),)
        if row["error_type"] == "duplicate":  # the supporting box is the other GT box
            return gt + (((f"GT {row['match_label']}", row["match_box"]),) if row["match_box"] else ()), ()
        preds = ((f"pred {row['match_label']}", row["match_box"], row["match_confidence"]),) if row["match_box"] else ()
        return gt, preds
    gt = ((f"GT {row['match_label']}", row["match_box"]),) if row["match_box"] else ()
    return gt, ((f"pred {row['label']}", own, row["confidence"]),)


def _as_tuple(boxes):
    # hashable arguments for st.cache_data
    return tuple(tuple(tuple(v) if isinstance(v, list) else v for v in b) for b in boxes)


def _show_card_image(row, size, gt_field):
    gt, preds = _boxes_for_card(row, gt_field)
    png = _card(row["filepath"], _as_tuple(gt), _as_tuple(preds), size)
    if png is None:
        st.warning(f"Image not readable: {common.md_escape(row['filepath'])}")
    else:
        st.image(png, width="stretch", output_format="PNG")  # PNG as drawn: "auto" would re-encode it each rerun


@st.dialog("Full image", width="large")
def _enlarge(row, gt_field, pred_field):
    gt = [(f"GT {lab}", bb) for f, lab, bb, _ in row["boxes"] if f == gt_field]
    preds = [(f"pred {lab}", bb, c) for f, lab, bb, c in row["boxes"] if f == pred_field]
    try:
        st.image(render.card_png(row["filepath"], gt, preds, size=900, whole=True), width="stretch")
    except OSError:
        st.warning(f"Image not readable: {common.md_escape(row['filepath'])}")
        return
    st.text(review_tables.describe(row))
    st.caption("All boxes of the image. Ground truth: solid blue, class above. "
               "Predictions: dashed orange, class and confidence below.")
    st.text(row["filepath"])


def _decide(ds, rows, status):
    """Button callback: store the decision at once, remember the outcome for the next run."""
    try:
        n = review.decide_many(ds, rows[["label_field", "sample_id", "label_id"]], status,
                               st.session_state.get("reviewer", ""), st.session_state.get("rv_comment"))
        st.session_state["rv_flash"] = ("success", f"{n} {'decision' if n == 1 else 'decisions'} stored: {status}.")
        st.session_state["rv_comment"] = ""
    except InputError as e:
        st.session_state["rv_flash"] = ("error", str(e))


def _move(step, n):
    st.session_state["rv_pos"] = min(max(st.session_state.get("rv_pos", 0) + step, 0), max(n - 1, 0))


def _triage(ds, shown, gt_field, pred_field):
    """One candidate at a time, keyboard-driven: the light view, so a decision reruns quickly."""
    pos = min(st.session_state.get("rv_pos", 0), len(shown) - 1)
    st.session_state["rv_pos"] = pos
    focus = review_tables.page_details(ds, shown.iloc[[pos]]).iloc[0]
    st.subheader(f"Candidate {pos + 1:,} of {len(shown):,}")
    left, right = st.columns([1, 1.4])
    with left:
        _show_card_image(focus, 420, gt_field)
    with right:
        st.text(review_tables.describe(focus))
        st.text(f"Class: {focus['label']}    Field: {focus['label_field']}")
        status = focus["review_status"]
        decided = f" by {focus['review_by']} at {focus['review_at']:%Y-%m-%d %H:%M} UTC" if status != review.PENDING else ""
        st.text(f"Status: {status}{decided}")  # words: the emoji were empty boxes in the default fonts
        if isinstance(focus.get("review_comment"), str):
            st.text(f"Comment: {focus['review_comment']}")
        st.text_input("Comment (optional, stored with the decision)", key="rv_comment")
        one = shown.iloc[[pos]]
        b = st.columns(5)
        b[0].button("Confirm", key="rv_confirm", type="primary", shortcut="Y", on_click=_decide,
                    args=(ds, one, "confirmed"), help="A real annotation error (Y)")
        b[1].button("Dismiss", key="rv_dismiss", shortcut="N", on_click=_decide, args=(ds, one, "dismissed"),
                    help="Not an error (N)")
        b[2].button("Undo", key="rv_undo", shortcut="U", on_click=_decide, args=(ds, one, review.PENDING),
                    disabled=status == review.PENDING, help="Back to pending; the history keeps the decision (U)")
        b[3].button("Previous", key="rv_prev", shortcut="K", on_click=_move, args=(-1, len(shown)), help="K")
        b[4].button("Next", key="rv_next", shortcut="J", on_click=_move, args=(1, len(shown)), help="J")
        e1, e2 = st.columns(2)
        if e1.button("Enlarge full image", key="rv_enlarge", icon=":material/zoom_in:"):
            _enlarge(focus, gt_field, pred_field)
        with e2:
            common.open_in_fiftyone(ds.select(focus["sample_id"]), "Open this image in FiftyOne", key="fo_rv_one")


def _gallery(ds, shown, gt_field, pred_field):
    """A page of cards at a time (drawn lazily, for this page only), with bulk decisions."""
    pages = (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE
    g1, g2, g3, g4 = st.columns([1, 1, 1, 2])
    page = g1.number_input("Page", 1, pages, 1, key="rv_page", help=f"{pages:,} pages of {PAGE_SIZE}") - 1
    rows = review_tables.page_details(ds, shown.iloc[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])
    selected = rows[[st.session_state.get(f"rv_sel_{lid}", False) for lid in rows["label_id"]]]
    g2.button(f"Confirm selected ({len(selected)})", key="rv_bulk_confirm", on_click=_decide,
              args=(ds, selected, "confirmed"), disabled=selected.empty)
    g3.button(f"Dismiss selected ({len(selected)})", key="rv_bulk_dismiss", on_click=_decide,
              args=(ds, selected, "dismissed"), disabled=selected.empty)
    if g4.checkbox("Select all on this page", key=f"rv_all_{page}"):
        for lid in rows["label_id"]:
            st.session_state[f"rv_sel_{lid}"] = True
    for start in range(0, len(rows), COLUMNS):
        for col, (_, row) in zip(st.columns(COLUMNS), rows.iloc[start:start + COLUMNS].iterrows()):
            with col.container(border=True):
                _show_card_image(row, 240, gt_field)
                st.text(review_tables.describe(row))
                who = f" · {row['review_by']}" if row["review_status"] != review.PENDING else ""
                st.text(f"Class {row['label']} · {row['review_status']}{who}")
                one = rows.loc[[row.name]]
                c = st.columns(2)
                c[0].button("Confirm", key=f"rv_c_{row['label_id']}", on_click=_decide, args=(ds, one, "confirmed"))
                c[1].button("Dismiss", key=f"rv_d_{row['label_id']}", on_click=_decide, args=(ds, one, "dismissed"))
                c[0].checkbox("Select", key=f"rv_sel_{row['label_id']}")
                if c[1].button("Enlarge", key=f"rv_e_{row['label_id']}", help="The full image with all its boxes"):
                    _enlarge(row, gt_field, pred_field)


def _reviewer() -> str:
    """Who reviews: kept in the URL so that a reload keeps it (names are never paths)."""
    if "reviewer" not in st.session_state:
        st.session_state["reviewer"] = st.query_params.get("reviewer", "")
    reviewer = st.sidebar.text_input("Your name (reviewer)", key="reviewer",
                                     help="Recorded with every decision; required before deciding.")
    if reviewer:
        st.query_params["reviewer"] = reviewer
    return reviewer


def _filtered(table, current):
    """The filter widgets, and the candidates they leave."""
    counts = table["error_type"].value_counts()
    types = [t for t in review_tables.TYPE_TITLES if counts.get(t, 0)]
    f1, f2, f3, f4, f5 = st.columns([1.3, 1.3, 1.3, 1.2, 1.2])
    kind = f1.selectbox("Error type", ["all", *types], key="rv_type",
                        format_func=lambda t: f"All types ({len(table):,})" if t == "all"
                        else f"{review_tables.TYPE_TITLES[t]} ({counts[t]:,})")
    statuses = f2.multiselect("Status", [review.PENDING, *review.STATUSES], default=[review.PENDING], key="rv_status")
    classes = f3.multiselect("Class", sorted(table["label"].dropna().unique()), key="rv_classes")
    score_range = f4.slider("Score", 0.0, 1.0, (0.0, 1.0), 0.05, key="rv_score")
    reviewers = f5.multiselect("Reviewer", sorted(current["review_by"].dropna().unique()), key="rv_reviewers")
    shown = review_tables.filter_table(table, types=None if kind == "all" else [kind], classes=classes,
                                score_range=score_range, statuses=statuses, reviewers=reviewers)
    return shown


def _progress(table, shown, candidates, current):
    """Progress metrics and charts, and the decisions on labels the latest run no longer flags."""
    progress = review_tables.progress_by_type(table)
    bands = review_tables.precision_by_band(table)
    reviewed = int(progress["reviewed"].sum())
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Candidates", f"{len(table):,}")
    m2.metric("Shown with these filters", f"{len(shown):,}")
    m3.metric("Reviewed", f"{reviewed:,}", help="Confirmed + dismissed, all reviewers.")
    confirmed = int(progress["confirmed"].sum())
    m4.metric("Confirmed / reviewed", f"{confirmed / reviewed:.0%}" if reviewed else "–",
              help="Estimated precision of the candidates reviewed so far.")
    if st.toggle("Show progress charts", value=True, key="rv_charts"):
        c1, c2 = st.columns(2)
        fig = go.Figure([go.Bar(name=s, y=[review_tables.TYPE_TITLES[t] for t in progress["error_type"]], x=progress[s],
                                orientation="h", marker_color=BAR_COLORS[s]) for s in (*review.STATUSES, review.PENDING)])
        fig.update_layout(barmode="stack", title="Review progress per type", xaxis_title="candidates",
                          height=320, margin=dict(t=40, b=10), legend=dict(orientation="h", y=-0.3))
        c1.plotly_chart(fig, width="stretch")
        known = bands.dropna(subset=["precision"])
        if known.empty:
            c2.caption("Precision by score band: no decisions yet; it appears as reviewers decide.")
        else:
            fig = go.Figure(go.Bar(
                x=known["band"], y=known["precision"], marker_color="#D55E00",
                error_y=dict(type="data", symmetric=False, array=known["high"] - known["precision"],
                             arrayminus=known["precision"] - known["low"]),
                text=[f"{c}/{r}" for c, r in zip(known["confirmed"], known["reviewed"])], textposition="inside"))
            fig.update_layout(title="Precision by score band (confirmed / reviewed, 80% interval)",
                              xaxis_title="engine score", yaxis_title="precision", yaxis_range=[0, 1.05],
                              height=320, margin=dict(t=40, b=10))
            c2.plotly_chart(fig, width="stretch")

    orphans = review_tables.orphaned(candidates, current)
    if len(orphans):
        st.warning(f"{len(orphans)} decisions are on labels that the latest engine run no longer flags. "
                   "They are kept on the labels (and in the exports); here they are for the record.")
        st.dataframe(orphans, hide_index=True, width="stretch")


def _exports(ds):
    """Saved views in FiftyOne, and the decision and corrected-COCO exports."""
    st.subheader("Open in FiftyOne and export")
    o1, o2 = st.columns(2)
    with o1:
        common.open_in_fiftyone(ds.load_saved_view(review.SAVED_VIEWS["confirmed"]), "All confirmed errors",
                                key="fo_rv_confirmed", help=f"Saved in the dataset as '{review.SAVED_VIEWS['confirmed']}'.")
    with o2:
        common.open_in_fiftyone(ds.load_saved_view(review.SAVED_VIEWS["pending"]), "All pending candidates",
                                key="fo_rv_pending", help=f"Saved in the dataset as '{review.SAVED_VIEWS['pending']}'.")
    x1, x2, x3 = st.columns(3)
    x1.download_button("Decisions (CSV)", lambda: review_exports.decisions_export(ds, "csv"), f"{ds.name}-decisions.csv",
                       "text/csv", key="rv_dl_csv", icon=":material/download:")
    x2.download_button("Decisions (JSON)", lambda: review_exports.decisions_export(ds, "json"), f"{ds.name}-decisions.json",
                       "application/json", key="rv_dl_json", icon=":material/download:")
    if x3.button("Write corrected COCO", key="rv_coco", icon=":material/save:",
                 help="Applies confirmed fixes to a copy of the ground truth; the original is never overwritten."):
        try:
            path, log = review_exports.write_corrected_coco(ds)
            st.session_state["rv_coco_file"] = (str(path), int(log["applied"].sum()), int((~log["applied"]).sum()))
        except InputError as e:
            st.error(str(e))
    if "rv_coco_file" in st.session_state:
        path, applied, skipped = st.session_state["rv_coco_file"]
        st.success(f"Corrected COCO written: {applied} fixes applied, {skipped} not applicable.")
        st.text(path)
        with open(path, "rb") as fh:
            st.download_button("Download corrected COCO", fh.read(), path.rsplit("/", 1)[-1], "application/json",
                               key="rv_dl_coco", icon=":material/download:")


def main():
    ds = common.current_dataset()
    st.title(f"Review label errors: {ds.name}")
    try:
        gt_field, pred_field = review.label_fields(ds)
    except InputError as e:
        st.info(str(e))
        st.page_link("views/label_errors.py", label="Find label errors", icon=":material/search:")
        st.stop()

    finished_at = review.run_finished_at(ds)
    if st.session_state.get("rv_prepared") != (ds.name, finished_at):
        review.prepare(ds)
        st.session_state["rv_prepared"] = (ds.name, finished_at)
    candidates = _candidates(ds.name, finished_at)
    current = review.decisions(ds)
    table = review_tables.review_table(candidates, current)
    if table.empty:
        st.success("The latest label-error run found no candidates to review.")
        st.stop()

    _reviewer()
    shown = _filtered(table, current)

    flash = st.session_state.pop("rv_flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])

    _progress(table, shown, candidates, current)

    # -- one candidate at a time, or a gallery page: only one is drawn per run (a gallery costs ~100 elements)
    if shown.empty:
        st.info("No candidates match these filters.")
    elif st.radio("View", VIEWS, horizontal=True, key="rv_view",
                  help="One by one: keyboard triage (Y confirm, N dismiss, U undo, J/K next/previous). "
                       f"Gallery: {PAGE_SIZE} cards a page, with bulk decisions.") == VIEWS[0]:
        _triage(ds, shown, gt_field, pred_field)
    else:
        _gallery(ds, shown, gt_field, pred_field)

    _exports(ds)


main()
