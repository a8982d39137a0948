"""Review page speed with 50,000 candidates: a 24-card gallery page, and a decision stored and reflected.

Usage::

    python tests/benchmarks/bench_review.py [--images 5000] [--boxes 20] [--found-share 0.55]
        [--pages 6] [--decisions 100] [--clicks 20]

The dataset: ``--images`` real JPEG files (640x480) with ``--boxes`` GT boxes
each and a detector-like prediction set (bench_label_errors_speed's synthetic
tables; ``--found-share`` of the GT boxes found, so ~50,000 candidates at the
defaults), loaded into FiftyOne, label errors found by the real engine (not
timed). Then, in one run:

1. Gallery page (goal < 1.5 s): the review page runs in Streamlit's AppTest
   (the real script, server side; the browser's drawing is not included) and
   the gallery page number is changed; each change reruns the page, draws the
   24 cards of the new page (cold: decoded, cropped, drawn, cached on disk) or
   takes them from the cache (warm: a page seen before).
2. Decision round trip (goal p95 < 200 ms): ``review.decide`` on a random
   candidate followed by ``review.decisions`` reading it back (what the page
   does); and the page itself, in its "One by one" view: a click on Confirm
   until the rerun that shows the next card has finished.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import time

import _isolated  # noqa: F401  (isolated FiftyOne database and data folder, before fiftyone)
import numpy as np
from bench_label_errors_speed import build_dataset, synthetic_tables
from PIL import Image

NAME = "review-bench"


def _write_images(folder, n, size=(640, 480), variants=16, seed=0):
    """``n`` JPEG files: a few noisy scenes, copied (decoding cost is what matters, not variety)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    blobs = []
    for _ in range(variants):
        yy, xx = np.mgrid[0:size[1], 0:size[0]]
        base = (np.sin(xx / rng.uniform(10, 60)) + np.cos(yy / rng.uniform(10, 60))) * 60 + 128
        pixels = np.clip(base[..., None] + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=90)
        blobs.append(buf.getvalue())
    paths = {}
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        path.write_bytes(blobs[i % variants])
        paths[i] = str(path)
    return paths


def _ms(values):
    v = np.asarray(values) * 1000
    return f"median {np.median(v):.0f} ms, p95 {np.percentile(v, 95):.0f} ms, max {v.max():.0f} ms (n={len(v)})"


def build(args):
    import fiftyone as fo

    from analysis.label_errors import fo_adapter as label_errors_fo

    t = time.perf_counter()
    gt, pred = synthetic_tables(args.images, args.boxes, seed=2, found_share=args.found_share)
    paths = _write_images(_isolated.TMP / "images", args.images)
    ds = build_dataset(gt, pred, {i: (640, 480) for i in range(args.images)}, filepaths=paths)
    if fo.dataset_exists(NAME):  # a leftover of an interrupted run on this benchmark's database
        fo.delete_dataset(NAME)
    ds.name = NAME
    found = label_errors_fo.find_label_errors(ds)
    print(f"dataset: {args.images:,} images, {len(gt):,} GT + {len(pred):,} predicted boxes, "
          f"{len(found):,} candidates ({found['error_type'].value_counts().to_dict()}); "
          f"built in {time.perf_counter() - t:.0f} s (not timed)", flush=True)
    return ds


def _share_script_cache():
    """Compile each page script once, as a Streamlit server does (one ScriptCache per runtime).

    AppTest makes a new cache for every run, which would add the compilation
    of app.py and the page (~40 ms) to every rerun timed here.
    """
    import streamlit.testing.v1.app_test as app_test

    shared = app_test.ScriptCache()
    app_test.ScriptCache = lambda: shared


def bench_gallery(args):
    from streamlit.testing.v1 import AppTest

    _share_script_cache()

    at = AppTest.from_file(str(_isolated.ROOT / "dashboard" / "app.py"), default_timeout=600)
    at.query_params["dataset"] = NAME
    at.query_params["reviewer"] = "bench"
    t = time.perf_counter()
    at.switch_page("views/review.py").run()
    first = time.perf_counter() - t
    at.radio(key="rv_view").set_value("Gallery").run()
    assert not at.exception, at.exception
    assert at.title[0].value == f"Review label errors: {NAME}"
    cards = sum(1 for b in at.button if b.key and b.key.startswith("rv_c_"))
    print(f"\n== gallery page of {cards} cards (goal < 1.5 s)")
    print(f"first open of the page (reads {NAME}'s candidates, prepares the review fields): {first:.2f} s")
    pages = [int(p) for p in np.linspace(2, int(at.number_input(key="rv_page").max), args.pages)]
    cold, warm = [], []
    for timings, sequence in ((cold, pages), (warm, pages)):
        for p in sequence:
            t = time.perf_counter()
            at.number_input(key="rv_page").set_value(p).run()
            timings.append(time.perf_counter() - t)
            assert not at.exception, at.exception
    print(f"page change, cards drawn for the first time (cold): {_ms(cold)}")
    print(f"page change, cards from the cache (warm):          {_ms(warm)}")
    return at


def bench_decisions(ds, at, args):
    from analysis.label_errors import fo_adapter as label_errors_fo
    from analysis.review import store as review

    cands = label_errors_fo.load_candidates(ds)
    rng = np.random.default_rng(0)
    picks = cands.iloc[rng.choice(len(cands), args.decisions, replace=False)]
    print("\n== decision stored and reflected (goal p95 < 200 ms)")
    lib = []
    for row in picks.itertuples():
        t = time.perf_counter()
        review.decide(ds, row.label_field, row.sample_id, row.label_id, "confirmed", "bench")
        stored = review.decisions(ds)
        lib.append(time.perf_counter() - t)
        assert row.label_id in set(stored["label_id"])
    print(f"library, decide + decisions() read back ({len(stored):,} decisions stored at the end): {_ms(lib)}")

    at.radio(key="rv_view").set_value("One by one").run()
    clicks = []
    for _ in range(args.clicks):
        before = at.subheader[0].value
        t = time.perf_counter()
        next(b for b in at.button if b.key == "rv_confirm").click().run()
        clicks.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        assert any("1 decision stored: confirmed" in s.value for s in at.success)
        assert at.subheader[0].value != before  # the pending count moved on
    print(f"page, click Confirm until the page shows the next card (whole rerun): {_ms(clicks)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5_000)
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--found-share", type=float, default=0.55,
                        help="share of GT boxes the synthetic detector finds; sets the candidate count")
    parser.add_argument("--pages", type=int, default=6, help="gallery pages visited (cold, then warm)")
    parser.add_argument("--decisions", type=int, default=100, help="library decisions timed")
    parser.add_argument("--clicks", type=int, default=20, help="Confirm clicks timed in the page")
    args = parser.parse_args(argv)
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; data in {_isolated.TMP}")
    try:
        ds = build(args)
        at = bench_gallery(args)
        bench_decisions(ds, at, args)
    finally:
        shutil.rmtree(_isolated.TMP / "images", ignore_errors=True)  # ~GBs of copies; the rest is small
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
