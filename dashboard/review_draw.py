"""Fix a box by drawing it, in the review's one-by-one view.

For a ``missing`` or ``low_iou`` candidate the corrected COCO takes the
detector's box; when that box is off too, the reviewer drags a rectangle on the
image (a plotly image with box selection, coordinates in image pixels),
optionally snaps it to the object (GrabCut, :func:`analysis.review.box_fix.snap`),
sees both, and Confirm (Y) stores the chosen box with the decision. The box
drawn lives in ``st.session_state["rv_box"]`` until the decision, for the
candidate it was drawn on only: moving to another candidate drops it.

Each selection is read once, before the chart is drawn, and the chart then
gets a new key: Streamlit 1.67 does not redraw a keyed plotly chart whose
figure changed, so the box drawn (and snapped) would not show otherwise.
"""

import base64
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from analysis.core import render
from analysis.review import box_fix

#: The candidates whose fix is a box (the others are relabelled or removed).
DRAWABLE = ("missing", "low_iou")
CHOICES = ("As drawn", "Snapped")
COLORS = {"gt": "#0072B2", "pred": "#E69F00", "drawn": "#009E73", "snapped": "#CC79A7"}  # Okabe-Ito


@st.cache_data(max_entries=200, show_spinner=False)
def _view(filepath, boxes):
    """The crop around ``boxes`` (relative) as a PNG data URI, its pixel region and the image size; None when
    the image cannot be read."""
    try:
        with Image.open(filepath) as image:
            image = image.convert("RGB")
    except OSError:
        return None
    region = render.crop_region(boxes, image.width, image.height, context=0.8)
    buf = io.BytesIO()
    image.crop(region).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), region, image.size


def chosen_box(label_id):
    """The box to store with a confirmation of ``label_id`` (relative ``[x, y, w, h]``), or None."""
    box = st.session_state.get("rv_box")
    if not box or box["label_id"] != label_id:
        return None
    use_snapped = box["snapped"] is not None and st.session_state.get("rv_box_use") == CHOICES[1]
    return box["snapped"] if use_snapped else box["drawn"]


def forget():
    """Drop the box drawn (decided, or drawn on another candidate)."""
    st.session_state.pop("rv_box", None)
    st.session_state.pop("rv_box_use", None)


def _redraw():
    # a new key: a new chart, with the figure of this run and no selection
    st.session_state["rv_box_v"] = st.session_state.get("rv_box_v", 0) + 1


def clear():
    """Button callback: no box to store (Confirm then stores the detector's)."""
    forget()
    _redraw()


def take_selection(selection, label_id, width, height):
    """A box selection (two x and two y values, image pixels) becomes the candidate's drawn box; a box that
    cannot be used leaves the one before and says why (``rv_box_msg``)."""
    ss = st.session_state
    _redraw()
    try:
        drawn, note = box_fix.drawn_box(list(selection.get("x") or ()), list(selection.get("y") or ()),
                                        width, height)
    except box_fix.BoxFixError as e:
        ss["rv_box_msg"] = ("warning", str(e) + (" The box drawn before is kept." if chosen_box(label_id) else ""))
        return
    ss["rv_box"] = {"label_id": label_id, "drawn": drawn, "snapped": None, "size": (width, height)}
    ss.pop("rv_box_use", None)
    ss["rv_box_msg"] = ("info", note) if note else None


def _snap(filepath):
    """Button callback: snap the drawn box to the object; where nothing is found, the box stays as drawn."""
    ss = st.session_state
    box = ss["rv_box"]
    width, height = box["size"]
    try:
        with Image.open(filepath) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError:
        ss["rv_box_msg"] = ("warning", "The image could not be read to snap the box; it is kept as drawn.")
        return
    snapped, note = box_fix.snap(pixels, box_fix.to_pixels(box["drawn"], width, height))
    if snapped is None:
        ss["rv_box_msg"] = ("warning", note)
        return
    box["snapped"] = box_fix.to_relative(snapped, width, height)
    ss["rv_box_use"] = CHOICES[1]
    ss["rv_box_msg"] = None
    _redraw()


def _rect(box, width, height, color, dash="solid", line=2):
    x0, y0, x1, y1 = box_fix.to_pixels(box, width, height)
    return {"type": "rect", "x0": x0, "y0": y0, "x1": x1, "y1": y1,
            "line": {"color": color, "width": line, "dash": dash}}


def _figure(uri, region, size, gt, preds, box):
    """The crop as a plotly image whose axes are image pixels (pixel i spans [i, i + 1]), with the candidate's
    boxes and the box drawn (and snapped) as shapes; dragging selects a box."""
    left, top, right, bottom = region
    width, height = size
    shapes = [_rect(b, width, height, COLORS["gt"]) for _, b in gt]
    shapes += [_rect(b, width, height, COLORS["pred"], "dash") for _, b, _ in preds]
    if box:
        shapes.append(_rect(box["drawn"], width, height, COLORS["drawn"], line=3))
        if box["snapped"] is not None:
            shapes.append(_rect(box["snapped"], width, height, COLORS["snapped"], "dot", 3))
    fig = go.Figure(go.Image(source=uri, x0=left + 0.5, y0=top + 0.5, dx=1, dy=1, hoverinfo="skip"))
    bare = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    fig.update_layout(dragmode="select", shapes=shapes, height=420, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      xaxis={"range": [left, right], **bare}, yaxis={"range": [bottom, top], "scaleanchor": "x", **bare})
    return fig


def panel(focus, gt, preds):
    """The drawing panel for ``focus`` (a page_details row) with its card boxes ``gt`` and ``preds``, in place
    of the card image; False when the image cannot be read (the caller shows the card instead)."""
    ss = st.session_state
    lid = focus["label_id"]
    if (ss.get("rv_box") or {}).get("label_id") not in (None, lid):
        forget()
    own = [focus["x"], focus["y"], focus["w"], focus["h"]]
    view = _view(focus["filepath"], (tuple(own), *((tuple(focus["match_box"]),) if focus["match_box"] else ())))
    if view is None:
        return False
    uri, region, size = view
    # the selection made on the chart as last drawn, taken before drawing it again
    event = ss.get(f"rv_draw_{lid}_{ss.get('rv_box_v', 0)}") or {}
    selected = (event.get("selection") or {}).get("box") or []
    if selected:
        take_selection(selected[-1], lid, *size)
    box = ss.get("rv_box")
    st.plotly_chart(_figure(uri, region, size, gt, preds, box), on_select="rerun", selection_mode=("box",),
                    key=f"rv_draw_{lid}_{ss.get('rv_box_v', 0)}", config={"displayModeBar": False}, width="stretch")
    msg = ss.pop("rv_box_msg", None)
    if msg:
        getattr(st, msg[0])(msg[1])
    if not box:
        st.caption("Drag a rectangle around the object: the box you draw replaces the detector's in the "
                   "corrected COCO when you confirm.")
        return True
    width, height = size
    x0, y0, x1, y1 = box_fix.to_pixels(box["drawn"], width, height)
    text = f"Your box (green): {x1 - x0:.0f} x {y1 - y0:.0f} px at ({x0:.0f}, {y0:.0f})."
    c1, c2 = st.columns(2)
    c1.button("Snap to the object", key="rv_snap", icon=":material/center_focus_strong:", on_click=_snap,
              args=(focus["filepath"],), help="GrabCut on the crop, started from your box; you see both and choose.")
    c2.button("Clear the box", key="rv_box_clear", on_click=clear, help="Confirm then stores the detector's box.")
    if box["snapped"] is not None:
        sx0, sy0, sx1, sy1 = box_fix.to_pixels(box["snapped"], width, height)
        text += f" Snapped (pink, dotted): {sx1 - sx0:.0f} x {sy1 - sy0:.0f} px at ({sx0:.0f}, {sy0:.0f})."
        st.radio("Box to store", CHOICES, key="rv_box_use", horizontal=True)
    st.caption(text + " Confirm (Y) stores the chosen box with the decision.")
    return True
