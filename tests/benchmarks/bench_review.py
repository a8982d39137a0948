"""Review page speed with 50,000 candidates: a 24-card gallery page, a decision stored and reflected with claims
on, and the key press to the next card in a real browser.

Usage::

    python tests/benchmarks/bench_review.py [--images 5000] [--boxes 20] [--found-share 0.55]
        [--pages 6] [--decisions 100] [--clicks 20] [--keys 40] [--no-browser]

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
2. Decision round trip (goal p95 < 200 ms), with claims on: another reviewer
   holds 50 live claims, and each decision does what the page does for it:
   read the live claims, read the card's state (:func:`review.page_details`),
   claim it, store the decision conditional on the version shown, end the
   previous claim. Anchor in the same run: ``review.decide`` + ``review.decisions``
   (the round trip without claims or versions). And the page in AppTest: a
   click on Confirm until the rerun that shows the next card has finished.
3. Browser (goal p95 < 200 ms): ``streamlit run`` serves the app on this
   database and headless Chromium opens the review page (one by one); the
   time from a key press (J: next; Y: confirm, then next) until the next
   candidate's heading and its image, loaded, are on screen. Anchor in the
   same browser: the same wait after a click that reruns the whole page (the
   "Show progress charts" toggle: what every key press cost before the card
   became a fragment).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
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
    ds.persistent = True  # the browser part's server is another process
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
    from analysis.review import claims as review_claims
    from analysis.review import store as review
    from analysis.review import tables as review_tables

    review.prepare(ds)
    cands = label_errors_fo.load_candidates(ds)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(cands))
    other, picks = cands.iloc[order[:50]], cands.iloc[order[50:50 + args.decisions]]
    review_claims.claim_many(ds, other, "other reviewer")
    print("\n== decision stored and reflected (goal p95 < 200 ms)")
    anchor, claimed = [], []
    for row in picks.iloc[: len(picks) // 2].itertuples():
        t = time.perf_counter()
        review.decide(ds, row.label_field, row.sample_id, row.label_id, "confirmed", "bench")
        stored = review.decisions(ds)
        anchor.append(time.perf_counter() - t)
        assert row.label_id in set(stored["label_id"])
    rest = picks.iloc[len(picks) // 2:]
    for k in range(len(rest)):
        t = time.perf_counter()
        live = review_claims.claims(ds)
        shown = review_tables.page_details(ds, rest.iloc[[k]])
        lid = shown["label_id"].iloc[0]
        assert review_claims.claim(ds, shown["label_field"].iloc[0], shown["sample_id"].iloc[0], lid, "bench") is None
        review_claims.release(ds, "bench", keep=[lid])
        review.decide_many(ds, shown, "confirmed", "bench")
        claimed.append(time.perf_counter() - t)
        assert len(live) >= 50
    assert review.decisions(ds).set_index("label_id").loc[rest["label_id"], "review_by"].eq("bench").all()
    print(f"anchor, decide + decisions() read back (no claims, no version check): {_ms(anchor)}")
    print(f"with claims on: claims read, card state, claim, conditional decide, release: {_ms(claimed)}")
    print(f"ratio of medians (claims on / anchor): {np.median(claimed) / np.median(anchor):.2f}")

    at.radio(key="rv_view").set_value("One by one").run()
    clicks = []

    def card_heading():  # "Candidate k of n": other subheaders (the trust figure's) sit above it
        return next(s.value for s in at.subheader if s.value.startswith("Candidate"))

    for _ in range(args.clicks):
        before = card_heading()
        t = time.perf_counter()
        next(b for b in at.button if b.key == "rv_confirm").click().run()
        clicks.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        assert any("1 decision stored: confirmed" in s.value for s in at.success)
        assert card_heading() != before  # the pending count moved on
    print(f"page (AppTest, server side only), click Confirm until the page shows the next card: {_ms(clicks)}")


CARD_SHOWN = """([heading, src]) => {
    const h = [...document.querySelectorAll('h3')].find(e => e.innerText.startsWith('Candidate'));
    const img = document.querySelector('.st-key-rv_card img');
    return h && img && img.complete && img.naturalWidth > 0 && (h.innerText !== heading || img.src !== src);
}"""
CARD_NOW = """() => [
    ([...document.querySelectorAll('h3')].find(e => e.innerText.startsWith('Candidate')) || {}).innerText,
    (document.querySelector('.st-key-rv_card img') || {}).src]"""
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def bench_browser(args):
    """Key press to the next card on screen, in headless Chromium, on this benchmark's database."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(_isolated.ROOT / "tests" / "dashboard"))
    from test_browser import CHROMIUM, CHROMIUM_ARGS, serve_app

    proc, url = serve_app()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{url}/review?dataset={NAME}&reviewer=browser")
            page.locator(".st-key-rv_card img").first.wait_for(timeout=600_000)
            page.wait_for_function(IDLE, timeout=600_000)
            title = page.get_by_text(f"Review label errors: {NAME}")

            def timed(action, n, shown=CARD_SHOWN, now=CARD_NOW):
                """Seconds from ``action`` until ``shown`` (given what ``now`` read before) holds on screen."""
                out = []
                for _ in range(n):
                    before = page.evaluate(now)
                    title.click()  # focus on the page, not in the comment box
                    t = time.perf_counter()
                    action()
                    page.wait_for_function(shown, arg=before, polling="raf", timeout=60_000)
                    out.append(time.perf_counter() - t)
                    page.wait_for_function(IDLE, polling="raf", timeout=60_000)  # the run ends before the next press
                return out

            print("\n== browser: key press until the next candidate is on screen (goal p95 < 200 ms)")
            j = timed(lambda: page.keyboard.press("j"), args.keys)
            print(f"J (next):               {_ms(j)}")
            y = timed(lambda: page.keyboard.press("y"), args.keys)
            print(f"Y (confirm, then next): {_ms(y)}")
            charts = "() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length"
            full = timed(page.locator(".st-key-rv_charts label").click, max(args.keys // 4, 6),
                         shown=f"before => ({charts})() !== before", now=charts)
            print(f"anchor, a whole-page rerun (progress charts toggled) until the charts come or go: {_ms(full)}")
            print(f"ratio of medians (J / whole-page rerun): {np.median(j) / np.median(full):.2f}")
            assert page.locator('[data-testid="stException"]').count() == 0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5_000)
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--found-share", type=float, default=0.55,
                        help="share of GT boxes the synthetic detector finds; sets the candidate count")
    parser.add_argument("--pages", type=int, default=6, help="gallery pages visited (cold, then warm)")
    parser.add_argument("--decisions", type=int, default=100, help="library decisions timed")
    parser.add_argument("--clicks", type=int, default=20, help="Confirm clicks timed in the page")
    parser.add_argument("--keys", type=int, default=40, help="key presses timed in the browser, per key")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser part")
    args = parser.parse_args(argv)
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; data in {_isolated.TMP}")
    try:
        ds = build(args)
        at = bench_gallery(args)
        bench_decisions(ds, at, args)
        if not args.no_browser:
            bench_browser(args)
    finally:
        shutil.rmtree(_isolated.TMP / "images", ignore_errors=True)  # ~GBs of copies; the rest is small
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
