"""Server-rendered SVG charts of the authenticity screens (no JavaScript, no chart library).

Each function returns an ``svg`` element as markup: the first-digit histogram against Benford's law,
the size profile over two-digit mantissas with round sizes marked, and the log-log tail with the fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from harbour.detect.market.authenticity import BenfordResult, RoundResult, TailResult

W, H, PAD = 420, 220, 34


def _frame(title: str, body: str, label: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title>{escape(title)}</title>'
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 8}" y2="{H - PAD}" stroke="#888"/>'
        f'<line x1="{PAD}" y1="8" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>{body}</svg>')


def _scale(v: float, lo: float, hi: float, a: float, b: float) -> float:
    return a if hi == lo else a + (v - lo) / (hi - lo) * (b - a)


def benford_svg(b: BenfordResult) -> Markup:
    top = max(max(b.observed), max(b.expected)) * 1.1
    bw = (W - PAD - 16) / 9
    parts = []
    for i, (obs, exp) in enumerate(zip(b.observed, b.expected, strict=True)):
        x = PAD + 4 + i * bw
        y = _scale(obs, 0, top, H - PAD, 8)
        parts.append(f'<rect class="observed" x="{x:.1f}" y="{y:.1f}" width="{bw * 0.7:.1f}" '
                     f'height="{H - PAD - y:.1f}" fill="#4a78b5"><title>digit {i + 1}: {obs:.1%} observed, '
                     f'{exp:.1%} Benford</title></rect>')
        parts.append(f'<text x="{x + bw * 0.35:.1f}" y="{H - PAD + 14}" font-size="11" '
                     f'text-anchor="middle">{i + 1}</text>')
    pts = " ".join(f"{PAD + 4 + i * bw + bw * 0.35:.1f},{_scale(e, 0, top, H - PAD, 8):.1f}"
                   for i, e in enumerate(b.expected))
    parts.append(f'<polyline class="benford" points="{pts}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append(f'<text x="{W - 10}" y="18" font-size="11" text-anchor="end">bars: observed · line: Benford</text>')
    parts.append(f'<text x="{PAD}" y="{H - 4}" font-size="11">first significant digit of trade size</text>')
    return _frame("First digit vs Benford", "".join(parts), "first-digit histogram against Benford's law")


def rounding_svg(r: RoundResult) -> Markup:
    prof: Sequence[tuple[float, float]] = r.profile
    top = max((s for _, s in prof), default=1.0) * 1.1 or 1.0
    bw = (W - PAD - 16) / max(len(prof), 1)
    parts = []
    for i, (m, s) in enumerate(prof):
        x = PAD + 4 + i * bw
        y = _scale(s, 0, top, H - PAD, 8)
        is_round = abs(m - round(m)) < 1e-9
        colour = "#c0392b" if is_round else "#4a78b5"
        parts.append(f'<rect class="{"round" if is_round else "near"}" x="{x:.1f}" y="{y:.1f}" '
                     f'width="{max(bw - 0.5, 0.5):.1f}" height="{H - PAD - y:.1f}" fill="{colour}">'
                     f'<title>{m:.1f}×10^k: {s:.2%} of trades</title></rect>')
        if is_round:
            parts.append(f'<text x="{x:.1f}" y="{H - PAD + 14}" font-size="10">{m:.0f}</text>')
    parts.append(f'<text x="{W - 10}" y="18" font-size="11" text-anchor="end">red: round sizes '
                 f'({r.round_share:.0%} vs {r.expected_share:.0%} of their groups)</text>')
    parts.append(f'<text x="{PAD}" y="{H - 4}" font-size="11">trade size, two significant digits (×10^k)</text>')
    return _frame("Clustering at round sizes", "".join(parts), "trade-size profile with round sizes marked")


def tail_svg(t: TailResult) -> Markup:
    xs = [p[0] for p in t.points]
    ys = [p[1] for p in t.points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    parts = []
    for x, y in t.points:
        parts.append(f'<circle class="empirical" cx="{_scale(x, x0, x1, PAD + 4, W - 12):.1f}" '
                     f'cy="{_scale(y, y0, y1, H - PAD - 4, 12):.1f}" r="2.5" fill="#4a78b5"/>')
    # The fitted line: log P(X >= x) = log P(X >= xmin) - alpha (log x - log xmin).
    lx0 = math.log10(t.xmin)
    fy = [ys[0] - t.alpha * (x - lx0) for x in (x0, x1)]
    parts.append(f'<line class="fit" x1="{_scale(x0, x0, x1, PAD + 4, W - 12):.1f}" '
                 f'y1="{_scale(fy[0], y0, y1, H - PAD - 4, 12):.1f}" x2="{_scale(x1, x0, x1, PAD + 4, W - 12):.1f}" '
                 f'y2="{_scale(fy[1], y0, y1, H - PAD - 4, 12):.1f}" stroke="#c0392b" stroke-width="2"/>')
    parts.append(f'<text x="{W - 10}" y="18" font-size="11" text-anchor="end">fit: α = {t.alpha:.2f} '
                 f'above {t.xmin:,.0f}</text>')
    parts.append(f'<text x="{PAD}" y="{H - 4}" font-size="11">log10 trade notional vs log10 P(X ≥ x)</text>')
    return _frame("Power-law tail", "".join(parts), "log-log tail of trade sizes with the fitted power law")
