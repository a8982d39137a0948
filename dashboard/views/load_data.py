"""Load data: COCO, VOC or YOLO folders into a persistent FiftyOne dataset, or pick an existing one."""

import html

import streamlit as st

from analysis.core.errors import DatabaseUnavailable, InputError
from analysis.data import datasets, importers
from dashboard import common

FORMATS = {
    "COCO (images folder + instances JSON)": "coco",
    "Pascal VOC folder": "voc",
    "YOLOv5 folder (dataset.yaml)": "yolo",
    "Existing FiftyOne dataset": "existing",
}


def main():
    common.database_or_stop()
    st.title("Load data")
    st.caption("Paths are on the machine that runs this app. Imports are all-or-nothing: a failed import "
               "leaves your datasets as they were.")
    fmt = FORMATS[st.radio("Format", list(FORMATS), horizontal=True, key="load_format")]

    if fmt == "existing":
        names = datasets.list_datasets()
        if not names:
            st.info("There are no datasets yet. Import one above, or open the demo on the Dataset overview page.")
            st.stop()
        name = st.selectbox("Dataset", names, key="existing_name")
        summary = datasets.summary(datasets.load(name))
        c1, c2 = st.columns(2)
        c1.metric("Samples", f"{summary['samples']:,}")
        c2.metric("Classes", len(summary["classes"]))
        st.write("Label fields: " + (", ".join(f"`{f}` ({n:,} boxes)" for f, n in summary["fields"].items())
                                     or "none"))
        st.text("Classes: " + ", ".join(summary["classes"]))
        if st.button("Use this dataset", type="primary"):
            common.select_dataset(name)
            st.switch_page("views/overview.py")
        st.stop()

    name = st.text_input("Dataset name", key="import_name", placeholder="e.g. traffic-signs-v2")
    if fmt == "coco":
        images_dir = st.text_input("Images folder", key="coco_images")
        instances = st.text_input("Instances JSON (ground truth)", key="coco_instances")
        predictions = st.text_input("Predictions JSON (COCO results with scores, optional)", key="coco_predictions")
        skip_invalid = st.checkbox("Skip invalid entries (bad boxes, unknown ids, missing images) and import the rest",
                                   key="coco_skip")
    else:
        folder = st.text_input("Dataset folder", key="folder_path")
        split = st.text_input("Split (YOLO, optional)", key="yolo_split") if fmt == "yolo" else None

    if_exists = "error"
    try:
        exists = bool(name.strip()) and name.strip() in datasets.list_datasets()
    except DatabaseUnavailable as e:
        st.error(str(e))
        st.stop()
    if exists:
        choice = st.radio(f"A dataset named {html.escape(name.strip())!r} exists already.",
                          ["Cancel", "Append the new images", "Overwrite it"], key="if_exists")
        if_exists = {"Cancel": None, "Append the new images": "append", "Overwrite it": "overwrite"}[choice]

    if st.button("Import", type="primary", disabled=if_exists is None or not name.strip()):
        bar = st.progress(0.0, "Starting")

        def progress(fraction, message):
            bar.progress(min(max(fraction, 0.0), 1.0), message)

        try:
            if fmt == "coco":
                result = importers.import_coco(name, images_dir.strip(), instances.strip(), predictions.strip() or None,
                                              if_exists=if_exists, skip_invalid=skip_invalid, progress=progress)
            elif fmt == "voc":
                result = importers.import_voc(name, folder.strip(), if_exists=if_exists, progress=progress)
            else:
                result = importers.import_yolo(name, folder.strip(), split=split.strip() or None,
                                              if_exists=if_exists, progress=progress)
        except (InputError, DatabaseUnavailable) as e:
            bar.empty()
            st.error(str(e), icon=":material/error:")
        else:
            bar.empty()
            st.cache_data.clear()
            st.success(f"Imported {result.samples_added:,} images into {result.name!r} "
                       f"({result.samples_total:,} in total).")
            for note in result.notes:
                st.warning(note)
            common.select_dataset(result.name)
            st.page_link("views/overview.py", label="See the overview", icon=":material/grid_view:")


main()
