"""Plotly figures shared by several pages."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def two_measures(df: pd.DataFrame, x: str, left: tuple[str, str], right: tuple[str, str]) -> go.Figure:
    """Two lines over ``df[x]`` with error bars from their ``<column>_low`` / ``<column>_high`` columns.

    ``left`` and ``right`` are ``(column, legend name)``: the left one solid blue on the primary y axis,
    the right one dashed vermilion on the secondary axis (colour-blind safe). Callers title the axes.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for (col, name), color, dash, secondary in ((left, "#0072B2", "solid", False), (right, "#D55E00", "dash", True)):
        fig.add_trace(go.Scatter(x=df[x], y=df[col], mode="lines+markers", name=name, line=dict(color=color, dash=dash),
                                 error_y=dict(type="data", symmetric=False, array=df[f"{col}_high"] - df[col],
                                              arrayminus=df[col] - df[f"{col}_low"])), secondary_y=secondary)
    return fig
