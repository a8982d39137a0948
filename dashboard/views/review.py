"""Review label errors: ranked galleries of candidates that reviewers confirm or dismiss."""

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analysis.core import render
from analysis.core.errors import InputError
from analysis.core.files import data_home
from analysis.data import datasets
from analysis.label_errors import fo_adapter as label_errors_fo
from analysis.review import claims as review_claims
from analysis.review import exports as review_exports
from analysis.review import store as review
from analysis.review import tables as review_tables
from dashboard import common, review_draw, trust_ui

PAGE_SIZE = 24
COLUMNS = 4
TRIAGE_SIZE = 420
VIEWS = ("One by one", "Gallery")
BAR_COLORS = {"confirmed": "#D55E00", "dismissed": "#999999", "disputed": "#CC79A7",
              "pending": "#56B4E9"}  # Okabe-Ito


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


def _card_or_drawing(focus, gt_field):
    """The card, or, for a candidate whose fix is a box and with drawing on, the image to draw the box on."""
    ss = st.session_state
    if focus["error_type"] in review_draw.DRAWABLE:
        # the toggle leaves the page on other candidates (and Streamlit forgets it): its value is kept apart
        ss["rv_draw_pref"] = st.toggle("Draw the corrected box", value=ss.get("rv_draw_pref", False), key="rv_draw",
                                       help="When the detector's box is off too: drag the right box on the image.")
        if ss["rv_draw_pref"] and review_draw.panel(focus, *_boxes_for_card(focus, gt_field)):
            return
    _show_card_image(focus, TRIAGE_SIZE, gt_field)


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


def _flash():
    """The outcome of the last decision (set by a callback), once."""
    flash = st.session_state.pop("rv_flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])


def _decide(ds, rows, status, verdict=None):
    """Button callback: store the decision at once, remember the outcome (or the conflict) for the next run.

    ``rows`` come from :func:`review_tables.page_details`, with the version each label was shown at: a label
    another reviewer decided since is not stored over.
    """
    ss = st.session_state
    items = rows[["label_field", "sample_id", "label_id", "review_version"]]
    box = review_draw.chosen_box(items["label_id"].iloc[0]) if status == "confirmed" and len(items) == 1 else None
    if box:  # drawn on this card: stored with the decision, in the same update
        items = items.assign(review_box=[box])
    comment = ss.get("rv_comment")
    ss.pop("rv_conflict", None)
    try:
        n = review.decide_many(ds, items, status, ss.get("reviewer", ""), comment, verdict=verdict)
        with_box = ", with your box" if box else ""
        ss["rv_flash"] = ("success", f"{n} {'decision' if n == 1 else 'decisions'} stored: {status}{with_box}.")
        if (ss.get("rv_box") or {}).get("label_id") in set(items["label_id"]):
            review_draw.forget()
        ss["rv_comment"] = ""
        # U undoes it, whatever the filters (its version: after this decision; no box: undo clears it)
        if status != review.PENDING:
            ss.setdefault("rv_undo", []).append(items[["label_field", "sample_id", "label_id"]].assign(
                review_version=items["review_version"] + 1).to_dict("records"))
    except review.ReviewConflict as e:
        ss["rv_conflict"] = {"rows": e.conflicts.to_dict("records"), "status": status, "comment": comment,
                             "message": str(e)}
        # the card stays on screen with the other reviewer's verdict, until this reviewer chooses
        ss["rv_pin"] = {"label_id": e.conflicts["label_id"].iloc[0],
                        "title": "Another reviewer decided this candidate after it was shown to you"}
        return
    except InputError as e:
        ss["rv_flash"] = ("error", str(e))
        return
    if status not in (ss.get("rv_status") or [status]):  # it leaves this queue (a new full run re-reads it)
        ss.setdefault("rv_left", set()).update(items["label_id"])
    if (ss.get("rv_pin") or {}).get("label_id") in set(items["label_id"]):
        ss.pop("rv_pin")
    if (ss.get("rv_claimed") or {}).get("label_id") in set(items["label_id"]):
        ss.pop("rv_claimed")  # the decision ended that claim


def _undo(ds):
    """Button callback: take this reviewer's last decision in this session back to pending and show that candidate."""
    ss = st.session_state
    last = pd.DataFrame(ss["rv_undo"][-1])
    ss.pop("rv_conflict", None)
    try:
        review.decide_many(ds, last, review.PENDING, ss.get("reviewer", ""))
    except review.ReviewConflict as e:
        ss["rv_conflict"] = {"rows": e.conflicts.to_dict("records"), "status": review.PENDING, "comment": None,
                             "message": str(e)}
        return
    except InputError as e:
        ss["rv_flash"] = ("error", str(e))
        return
    ss["rv_undo"].pop()
    ss["rv_flash"] = ("success", f"Undone: {len(last)} {'candidate' if len(last) == 1 else 'candidates'} "
                                 "back to pending (the history keeps the decision).")
    ss.setdefault("rv_left", set()).difference_update(last["label_id"])
    ss["rv_pin"] = {"label_id": last["label_id"].iloc[0], "title": "Candidate brought back by Undo"}
    ss["rv_view"] = VIEWS[0]


def _keep_theirs():
    conflict = st.session_state.pop("rv_conflict")
    st.session_state.pop("rv_pin", None)
    st.session_state.setdefault("rv_left", set()).update(r["label_id"] for r in conflict["rows"])
    st.session_state["rv_flash"] = ("info", "Kept the other reviewer's verdict; nothing was stored.")


def _conflict_panel(ds):
    """A decision that met another reviewer's newer one: keep theirs, or mark the label disputed."""
    conflict = st.session_state.get("rv_conflict")
    if not conflict:
        return
    st.warning(conflict["message"], icon=":material/group:")
    c = st.columns(3)
    c[0].button("Keep their verdict", key="rv_keep_theirs", on_click=_keep_theirs, type="primary")
    if conflict["status"] in review.VERDICTS:
        c[1].button(f"Mark as disputed (you: {conflict['status']})", key="rv_dispute", on_click=_decide,
                    args=(ds, pd.DataFrame(conflict["rows"]), review.DISPUTED, conflict["status"]),
                    help="Both verdicts stay in the history; the label waits in the 'disputed' filter and saved "
                         "view, and the corrected COCO leaves it as it is.")


def _move(step, n):
    st.session_state.pop("rv_pin", None)
    st.session_state["rv_pos"] = min(max(st.session_state.get("rv_pos", 0) + step, 0), max(n - 1, 0))


@st.cache_resource
def _prefetcher():
    # one background worker for the whole server: draws the card after the current one into the disk cache
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="card-prefetch")


def _draw_ahead(ds, rows, gt_field):
    """Read and draw the next candidate(s) in the background, so that the next key press finds the card drawn."""
    def work():
        for _, row in review_tables.page_details(ds, rows).iterrows():
            gt, preds = _boxes_for_card(row, gt_field)
            try:
                render.card_png(row["filepath"], _as_tuple(gt), _as_tuple(preds), size=TRIAGE_SIZE,
                                cache_dir=data_home() / "cache" / "cards")
            except OSError:
                pass  # the page says so when it shows this card
    if not rows.empty:
        _prefetcher().submit(work)


def _claim(ds, focus, reviewer) -> bool:
    """Claim the card for ``reviewer``, ending their claim on the card before in the same request (one round
    trip per key press); False when another reviewer has it."""
    ss = st.session_state
    card = {k: focus[k] for k in ("label_field", "sample_id", "label_id")}
    before = ss.get("rv_claimed")
    moved_on = before is not None and before["label_id"] != card["label_id"]
    held = review_claims.claim_many(ds, pd.DataFrame([card]), reviewer,
                                    release=pd.DataFrame([before]) if moved_on else None)
    if before is None:  # first card of this session: end claims left by an earlier one (a reload, the gallery)
        review_claims.release(ds, reviewer, keep=[card["label_id"]])
    ss["rv_claimed"] = card if held.empty else None
    return held.empty


def _focus(ds, queue, table, statuses, reviewer):
    """The candidate to show: the one pinned (Undo, a conflict), else the first at the position that still
    belongs here. Skips candidates decided (elsewhere) out of the status filter since the last full run and
    those another reviewer claimed meanwhile; claims the one shown. Returns ``(row, position, queue)``; row
    None when the queue is empty."""
    ss = st.session_state
    pin = (ss.get("rv_pin") or {}).get("label_id")
    if pin is not None and pin in table.index:
        focus = review_tables.page_details(ds, table.loc[[pin]]).iloc[0]
        if reviewer:
            _claim(ds, focus, reviewer)
        return focus, None, queue
    while not queue.empty:
        pos = min(ss.get("rv_pos", 0), len(queue) - 1)
        focus = review_tables.page_details(ds, queue.iloc[[pos]]).iloc[0]
        lid = focus["label_id"]
        if statuses and focus["review_status"] not in statuses:
            ss.setdefault("rv_left", set()).add(lid)
        elif not reviewer or _claim(ds, focus, reviewer):
            ss["rv_pos"] = pos
            return focus, pos, queue
        queue = queue[queue.index != lid]  # taken by someone else a moment ago
    return None, None, queue


def _undo_button(ds):
    stack = st.session_state.get("rv_undo")
    st.button("Undo", key="rv_undo_last", shortcut="U", on_click=_undo, args=(ds,), disabled=not stack,
              help="Your last decision in this session back to pending, whatever the filters; the history keeps "
                   "it (U)" if stack else "Nothing to undo yet in this session (U)")


@st.fragment
def _triage(ds, shown, table, statuses, gt_field, pred_field):
    """One candidate at a time, keyboard-driven. A fragment: a key press reruns this card only (the counts and
    charts above catch up on the next change of filters or reload); the next card is drawn ahead of time."""
    ss = st.session_state
    reviewer = ss.get("reviewer", "").strip()
    left = ss.get("rv_left")
    # others' claims as of the last full run; one taken since is found when claiming the card
    queue = shown[~shown.index.isin(left)] if left else shown
    # Elements that come and go sit in containers of their own: a button whose place in the fragment moves is
    # drawn anew, and Streamlit 1.67 then drops its keyboard shortcut until the next run (a lost key press)
    with st.container():
        _conflict_panel(ds)
        _flash()
    focus, pos, queue = _focus(ds, queue, table, statuses, reviewer)
    if focus is None:
        st.info("No candidates left here: the others are decided or open with other reviewers. "
                "Change the filters, or come back when their claims end.")
        _undo_button(ds)
        return
    with st.container():
        if pos is None:
            st.subheader(ss["rv_pin"]["title"])
            st.caption("Shown whatever the filters; decide it, or press J/K to go back to the queue.")
        else:
            st.subheader(f"Candidate {pos + 1:,} of {len(queue):,}")
    left_col, right = st.columns([1, 1.4])
    with left_col.container(key="rv_card"):
        _card_or_drawing(focus, gt_field)
    with right:
        with st.container():
            st.text(review_tables.describe(focus))
            st.text(f"Class: {focus['label']}    Field: {focus['label_field']}")
            status = focus["review_status"]
            decided = (f" by {focus['review_by']} at {focus['review_at']:%Y-%m-%d %H:%M} UTC"
                       if status != review.PENDING else "")
            st.text(f"Status: {status}{decided}")  # words: the emoji were empty boxes in the default fonts
            if isinstance(focus.get("review_comment"), str):
                st.text(f"Comment: {focus['review_comment']}")
            if isinstance(focus.get("review_box"), list) and focus["width"] and focus["height"]:
                x, y, w, h = (v * s for v, s in zip(focus["review_box"], [focus["width"], focus["height"]] * 2))
                st.text(f"Box drawn by the reviewer: {w:.0f} x {h:.0f} px at ({x:.0f}, {y:.0f})")
        st.text_input("Comment (optional, stored with the decision)", key="rv_comment")
        one = focus.to_frame().T
        n = len(queue)
        b = st.columns(5)
        b[0].button("Confirm", key="rv_confirm", type="primary", shortcut="Y", on_click=_decide,
                    args=(ds, one, "confirmed"), help="A real annotation error (Y)")
        b[1].button("Dismiss", key="rv_dismiss", shortcut="N", on_click=_decide, args=(ds, one, "dismissed"),
                    help="Not an error (N)")
        with b[2]:
            _undo_button(ds)
        b[3].button("Previous", key="rv_prev", shortcut="K", on_click=_move, args=(-1, n), help="K")
        b[4].button("Next", key="rv_next", shortcut="J", on_click=_move, args=(1, n), help="J")
        e1, e2 = st.columns(2)
        if e1.button("Enlarge full image", key="rv_enlarge", icon=":material/zoom_in:"):
            _enlarge(focus, gt_field, pred_field)
        with e2:
            common.open_in_fiftyone(ds.select(focus["sample_id"]), "Open this image in FiftyOne", key="fo_rv_one")
    if pos is not None:
        _draw_ahead(ds, queue.iloc[pos + 1:pos + 2], gt_field)


def _gallery(ds, shown, reviewer, gt_field, pred_field):
    """A page of cards at a time (drawn lazily, for this page only), with bulk decisions; the page's cards are
    claimed, so other reviewers' queues skip them while it is open."""
    review_draw.forget()  # a box drawn one by one is not on screen here: a confirmation must not store it unseen
    _conflict_panel(ds)
    _flash()
    if shown.empty:
        st.info("No candidates match these filters (or the others are open with other reviewers).")
        return
    pages = (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE
    g1, g2, g3, g4 = st.columns([1, 1, 1, 2])
    page = g1.number_input("Page", 1, pages, 1, key="rv_page", help=f"{pages:,} pages of {PAGE_SIZE}") - 1
    rows = review_tables.page_details(ds, shown.iloc[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])
    if reviewer:
        taken = review_claims.claim_many(ds, rows, reviewer)
        if len(taken):  # claimed by someone else a moment ago
            rows = rows[~rows["label_id"].isin(taken["label_id"])]
        review_claims.release(ds, reviewer, keep=rows["label_id"])
        st.session_state.pop("rv_claimed", None)
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
    return shown, statuses


def _progress(table, shown, candidates, current):
    """Progress metrics and charts, and the decisions on labels the latest run no longer flags."""
    progress = review_tables.progress_by_type(table)
    bands = review_tables.precision_by_band(table)
    reviewed = int(progress["reviewed"].sum())
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Candidates", f"{len(table):,}")
    m2.metric("Shown with these filters", f"{len(shown):,}",
              help="Without the candidates other reviewers have open right now (their queues skip yours too).")
    m3.metric("Reviewed", f"{reviewed:,}", help="Confirmed + dismissed, all reviewers; disputed ones are apart.")
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
    o1, o2, o3 = st.columns(3)
    with o1:
        common.open_in_fiftyone(ds.load_saved_view(review.SAVED_VIEWS["confirmed"]), "All confirmed errors",
                                key="fo_rv_confirmed", help=f"Saved in the dataset as '{review.SAVED_VIEWS['confirmed']}'.")
    with o2:
        common.open_in_fiftyone(ds.load_saved_view(review.SAVED_VIEWS["pending"]), "All pending candidates",
                                key="fo_rv_pending", help=f"Saved in the dataset as '{review.SAVED_VIEWS['pending']}'.")
    with o3:
        common.open_in_fiftyone(ds.load_saved_view(review.SAVED_VIEWS["disputed"]), "All disputed labels",
                                key="fo_rv_disputed", help=f"Saved in the dataset as '{review.SAVED_VIEWS['disputed']}': "
                                                           "reviewers disagree; the exports list them apart.")
    x1, x2, x3 = st.columns(3)
    x1.download_button("Decisions (CSV)", lambda: review_exports.decisions_export(ds, "csv"), f"{ds.name}-decisions.csv",
                       "text/csv", key="rv_dl_csv", icon=":material/download:")
    x2.download_button("Decisions (JSON)", lambda: review_exports.decisions_export(ds, "json"), f"{ds.name}-decisions.json",
                       "application/json", key="rv_dl_json", icon=":material/download:")
    if x3.button("Write corrected COCO", key="rv_coco", icon=":material/save:",
                 help="Applies confirmed fixes to a copy of the ground truth; the original is never overwritten."):
        try:
            path, log = review_exports.write_corrected_coco(ds)
            st.session_state["rv_coco_file"] = (str(path), review_exports.fix_summary(log))
        except InputError as e:
            st.error(str(e))
    if "rv_coco_file" in st.session_state:
        path, summary = st.session_state["rv_coco_file"]
        st.success(f"Corrected COCO written: {summary}.")
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

    reviewer = _reviewer().strip()
    live = review_claims.claims(ds)
    filtered, statuses = _filtered(table, current)
    shown = review_tables.unclaimed(filtered, live, reviewer)  # each reviewer's queue skips what others have open
    st.session_state["rv_left"] = set()  # a full run reads every decision again

    _progress(table, shown, candidates, current)
    if len(others := live[live["claimed_by"] != reviewer]):
        st.caption(f"Open with other reviewers right now, skipped here: "
                   f"{', '.join(f'{who} {n}' for who, n in others['claimed_by'].value_counts().items())} "
                   f"(a claim ends with their decision or after {review.CLAIM_SECONDS // 60} idle minutes).")

    trust_ui.trust_section(table)
    # -- one candidate at a time, or a gallery page: only one is drawn per run (a gallery costs ~100 elements)
    if st.radio("View", VIEWS, horizontal=True, key="rv_view",
                help="One by one: keyboard triage (Y confirm, N dismiss, U undo, J/K next/previous). "
                     f"Gallery: {PAGE_SIZE} cards a page, with bulk decisions.") == VIEWS[0]:
        _triage(ds, shown, table, statuses, gt_field, pred_field)
    else:
        _gallery(ds, shown, reviewer, gt_field, pred_field)

    _exports(ds)


main()
