"""The budget planner's one-page report of a scenario: HTML (with an inline SVG bar chart) and PNG for slides.
"""

from __future__ import annotations

import html
import io

import numpy as np
import pandas as pd

from analysis.planning.budget import OPTIONS, amount_text, flips_text, headline, option_name, sensitivity, weeks_text
from analysis.planning.scenarios import Scenario, inputs_table, labels_summary, scenario_table


def _svg_bars(table: pd.DataFrame, col: str, title: str, width=420, bar_h=22) -> str:
    """A static horizontal bar chart (inline SVG: the report must work offline)."""
    vals = table[col].replace(np.inf, np.nan)
    top = float(vals.max()) if vals.notna().any() and vals.max() > 0 else 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bar_h * len(table) + 30}" '
             f'font-family="sans-serif" font-size="12"><text x="0" y="14" font-weight="bold">'
             f'{html.escape(title)}</text>']
    for i, (key, v) in enumerate(vals.items()):
        y = 24 + i * bar_h
        w = 0 if np.isnan(v) else (width - 230) * v / top
        label = (amount_text if col == "cost" else weeks_text)(v)
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(OPTIONS[key])}</text>'
                     f'<rect x="170" y="{y + 3}" width="{w:.1f}" height="{bar_h - 8}" fill="#0072B2"/>'
                     f'<text x="{175 + w:.1f}" y="{y + 14}">{label}</text>')
    return "".join(parts) + "</svg>"


def html_report(s: Scenario) -> str:
    """A self-contained one-page HTML report (tables and inline SVG charts, no scripts)."""
    table = scenario_table(s)
    sens = sensitivity(s.labels_needed, s.assumptions, s.plan, s.target)
    rows = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{amount_text(r['labels'])}</td>"
        f"<td>{amount_text(r['labeller_hours'])}</td><td>{r['engineer_hours']:,.0f}</td>"
        f"<td>{amount_text(r['cost'])}</td><td>{weeks_text(r['weeks'])}</td>"
        f"<td>{html.escape(r['note'])}</td></tr>" for _, r in table.iterrows())
    inputs = inputs_table(s)
    a_rows = "".join(
        f"<tr><td>{html.escape(r['input'])}</td><td>{html.escape(r['value'])}</td><td>{html.escape(r['unit'])}</td>"
        f"<td>{r['status']}</td><td>{html.escape(r['from'])}</td></tr>" for _, r in inputs.iterrows())
    measured = inputs.loc[inputs["status"] == "measured", "input"]
    s_rows = "".join(
        f"<tr><td>{html.escape(r['assumption'])}</td><td>{r['low']:g} .. {r['high']:g}</td>"
        f"<td>{option_name(r['cheapest_low'])} / {option_name(r['cheapest_high'])}</td>"
        f"<td>{'yes' if r['flips'] else 'no'}</td></tr>" for _, r in sens.head(8).iterrows())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(s.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}td,th{{border-bottom:1px solid #ddd;
padding:2px 6px;text-align:left;font-size:13px}}table{{border-collapse:collapse;margin-bottom:1em}}</style></head>
<body><h1>Budget plan: {html.escape(s.name)}</h1>
<p>Target metric {s.target:g}; now {s.current_metric:.4g} with {s.current_labels:,.0f} labels.
Labels needed: {html.escape(labels_summary(s))}.</p>
<p><b>{headline(table)}</b></p>
<p>Measured: {html.escape(", ".join(measured)) or "nothing"}. Everything else is an assumption.</p>
<table><tr><th>Option</th><th>Labels</th><th>Labeller h</th><th>Engineer h</th><th>Cost</th><th>Weeks</th>
<th>Note</th></tr>{rows}</table>
{_svg_bars(table, 'cost', 'Cost')} {_svg_bars(table, 'weeks', 'Calendar weeks')}
<h2>What flips the decision</h2><table><tr><th>Assumption</th><th>Range</th><th>Cheapest at low / high</th>
<th>Flips</th></tr>{s_rows}</table>
<h2>Inputs: measured or assumed</h2><table><tr><th>Input</th><th>Value</th><th>Unit</th><th>Status</th>
<th>Measurement, or source of the default</th></tr>
{a_rows}</table></body></html>"""


def png_report(s: Scenario) -> bytes:
    """The one-page report as a PNG (A4 portrait at 100 dpi): headline, options table, cost and time bars,
    and the assumptions that flip the decision. For slides and chats where HTML does not travel."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    table = scenario_table(s)
    sens = sensitivity(s.labels_needed, s.assumptions, s.plan, s.target)
    names = [OPTIONS[k] for k in table.index]
    fig = plt.figure(figsize=(8.27, 11.69), dpi=100)
    fig.text(0.05, 0.96, f"Budget plan: {s.name}", fontsize=16, weight="bold")
    fig.text(0.05, 0.90, f"Target {s.target:g}; now {s.current_metric:.4g} with {s.current_labels:,.0f} labels.\n"
             f"Labels needed: {labels_summary(s)}.\n{headline(table)}", fontsize=10, va="bottom", wrap=True)
    ax = fig.add_axes([0.05, 0.66, 0.9, 0.2])
    ax.axis("off")
    cells = ax.table(cellText=[[n, amount_text(r.labels), amount_text(r.labeller_hours), f"{r.engineer_hours:,.0f}",
                                amount_text(r.cost), weeks_text(r.weeks)] for n, r in zip(names, table.itertuples())],
                     colLabels=["Option", "Labels", "Labeller h", "Engineer h", "Cost", "Weeks"], loc="center",
                     colWidths=[0.35, 0.13, 0.13, 0.13, 0.13, 0.13])
    cells.auto_set_font_size(False)
    cells.set_fontsize(9)
    cells.scale(1, 1.6)
    for i, (col, title) in enumerate((("cost", "Cost"), ("weeks", "Calendar weeks"))):
        ax = fig.add_axes([0.32, 0.42 - 0.2 * i, 0.6, 0.15])
        vals = table[col].replace(np.inf, np.nan)
        ax.barh(names, vals.fillna(0), color="#0072B2")
        for y, v in enumerate(vals):
            label = " " + (amount_text if col == "cost" else weeks_text)(v)
            ax.text(0 if np.isnan(v) else v, y, label, va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10, loc="left")
    fig.text(0.05, 0.12, f"What flips the decision within its range: {flips_text(sens)}", fontsize=10, wrap=True)
    fig.text(0.05, 0.04, f"Measured inputs: {', '.join(s.measured) or 'none'}; everything else is an assumption.",
             fontsize=8, color="#555555", wrap=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
