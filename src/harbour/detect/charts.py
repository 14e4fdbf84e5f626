"""Server-rendered SVG charts of an alert's evidence: no JavaScript chart library, no CDN.

:func:`market_chart` draws price (line) and volume (bars) around the alert, shades the alert's span, and
marks the trades and order events it names (trades as red dots, order events as shapes by event type),
each with a tooltip. :func:`transfer_chart` draws the transfers an AML alert names over time (USD value on a
log scale). Both return markup safe to embed in a Jinja template.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 960, 380
LEFT, RIGHT, TOP = 70, 20, 24
PRICE_BOTTOM, VOL_TOP, VOL_BOTTOM = 250, 272, 338
ORDER_SHAPES = {"new": "triangle", "amend": "diamond", "cancel": "cross", "fill": "square", "expire": "cross"}


class _TimeScale:
    def __init__(self, lo: dt.datetime, hi: dt.datetime) -> None:
        self.lo = lo
        self.span = max((hi - lo).total_seconds(), 1e-6)

    def __call__(self, t: dt.datetime) -> float:
        frac = (t - self.lo).total_seconds() / self.span
        return LEFT + min(max(frac, 0.0), 1.0) * (WIDTH - LEFT - RIGHT)

    def ticks(self, n: int = 6) -> list[tuple[float, str]]:
        fmt = "%H:%M:%S" if self.span < 600 else "%H:%M" if self.span < 86_400 else "%m-%d %H:%M"
        out = []
        for i in range(n):
            t = self.lo + dt.timedelta(seconds=self.span * i / (n - 1))
            out.append((self(t), t.strftime(fmt)))
        return out


class _LinearScale:
    def __init__(self, lo: float, hi: float, top: float, bottom: float, label: Any = None) -> None:
        self.label = label or _num
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.05
        self.lo, self.hi, self.top, self.bottom = lo - pad, hi + pad, top, bottom

    def __call__(self, v: float) -> float:
        return self.bottom - (v - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)

    def ticks(self, n: int = 4) -> list[tuple[float, str]]:
        return [(self(v), self.label(v)) for v in (self.lo + (self.hi - self.lo) * i / (n - 1) for i in range(n))]


def _num(v: float) -> str:
    if v == 0:
        return "0"
    mag = abs(v)
    if mag >= 1e6:
        return f"{v / 1e6:.2f}M"
    if mag >= 1e3:
        return f"{v / 1e3:.1f}k" if mag >= 1e4 else f"{v:,.0f}"
    return f"{v:.4g}"


def _svg_open(label: str, testid: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
            f'class="evidence-chart" data-testid="{testid}" aria-label="{escape(label)}">',
            "<style>.ax{stroke:#9aa5b8;stroke-width:1}.tx{font:11px sans-serif;fill:#5b6476}"
            ".price{fill:none;stroke:#2b59c3;stroke-width:1.6}.vol{fill:#c5cfe3}"
            ".span{fill:#ffe9b3;opacity:.55}.trade{fill:#d7263d;stroke:#fff;stroke-width:1}"
            ".order{stroke:#7a2fbf;stroke-width:1.6;fill:#7a2fbf}.order.cancel,.order.expire{fill:none}"
            ".xfer{fill:#9aa5b8}.xfer.evidence{fill:#d7263d}</style>"]


def _axes(parts: list[str], ts: _TimeScale, ys: _LinearScale, y_label: str, bottom: float) -> None:
    parts.append(f'<line class="ax" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>')
    parts.append(f'<line class="ax" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>')
    for y, text in ys.ticks():
        parts.append(f'<text class="tx" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    parts.append(f'<text class="tx" x="8" y="{TOP - 8}">{escape(y_label)}</text>')
    for x, text in ts.ticks():
        parts.append(f'<text class="tx" x="{x:.1f}" y="{HEIGHT - 22}" text-anchor="middle">{escape(text)}</text>')


def _marker(shape: str, x: float, y: float, cls: str, title: str) -> str:
    t = f"<title>{escape(title)}</title>"
    if shape == "triangle":
        pts = f"{x:.1f},{y - 6:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}"
        return f'<polygon class="{cls}" points="{pts}">{t}</polygon>'
    if shape == "diamond":
        pts = f"{x:.1f},{y - 6:.1f} {x - 5:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x + 5:.1f},{y:.1f}"
        return f'<polygon class="{cls}" points="{pts}">{t}</polygon>'
    if shape == "square":
        return f'<rect class="{cls}" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8">{t}</rect>'
    return (f'<path class="{cls}" d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x - 4:.1f},{y + 4:.1f} '
            f'L{x + 4:.1f},{y - 4:.1f}">{t}</path>')


def market_chart(series: Sequence[dict[str, Any]], trades: Sequence[dict[str, Any]],
                 orders: Sequence[dict[str, Any]], span: tuple[dt.datetime, dt.datetime],
                 window: tuple[dt.datetime, dt.datetime], title: str = "") -> Markup:
    """Price and volume around the alert with its evidence marked."""
    ts = _TimeScale(*window)
    prices = [r["close"] for r in series] + [r["high"] for r in series] + [r["low"] for r in series]
    prices += [r["price"] for r in trades] + [r["price"] for r in orders if r.get("price") is not None]
    ys = _LinearScale(min(prices, default=0.0), max(prices, default=1.0), TOP, PRICE_BOTTOM)
    vmax = max((r["volume"] for r in series), default=1.0) or 1.0
    vs = _LinearScale(0, vmax, VOL_TOP, VOL_BOTTOM)
    parts = _svg_open(title or f"price and volume with {len(trades)} evidence trades and {len(orders)} order events",
                      "evidence-chart")
    x0, x1 = ts(span[0]), ts(span[1])
    parts.append(f'<rect class="span" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 2):.1f}" '
                 f'height="{VOL_BOTTOM - TOP}"><title>alert span {span[0]:%Y-%m-%d %H:%M:%S} – '
                 f'{span[1]:%H:%M:%S} UTC</title></rect>')
    bar_w = max(1.0, (WIDTH - LEFT - RIGHT) / max(len(series), 1) * 0.8)
    for r in series:
        x = ts(r["ts"])
        y = vs(r["volume"])
        parts.append(f'<rect class="vol" x="{x - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                     f'height="{max(VOL_BOTTOM - y, 0):.1f}"/>')
    if series:
        points = " ".join(f"{ts(r['ts']):.1f},{ys(r['close']):.1f}" for r in series)
        parts.append(f'<polyline class="price" points="{points}"/>')
    for r in orders:
        if r.get("price") is None:
            continue
        shape = ORDER_SHAPES.get(r["event"], "cross")
        tip = (f"order {r['order_id']} {r['event']} {r['side']} {r.get('quantity', 0):g} @ {r['price']:g} "
               f"by {r['account']} at {r['ts']:%H:%M:%S.%f}")
        parts.append(_marker(shape, ts(r["ts"]), ys(r["price"]), f"order evidence {escape(r['event'])}", tip))
    for r in trades:
        tip = (f"trade {r['trade_id']}: {r['quantity']:g} @ {r['price']:g}, {r['buyer']} bought from "
               f"{r['seller']} at {r['ts']:%H:%M:%S.%f}")
        parts.append(f'<circle class="trade evidence" cx="{ts(r["ts"]):.1f}" cy="{ys(r["price"]):.1f}" r="4.5">'
                     f"<title>{escape(tip)}</title></circle>")
    _axes(parts, ts, ys, "price", PRICE_BOTTOM)
    parts.append(f'<line class="ax" x1="{LEFT}" y1="{VOL_BOTTOM}" x2="{WIDTH - RIGHT}" y2="{VOL_BOTTOM}"/>')
    parts.append(f'<text class="tx" x="8" y="{VOL_TOP + 10}">volume</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def transfer_chart(transfers: Sequence[dict[str, Any]], evidence: set[str], span: tuple[dt.datetime, dt.datetime],
                   window: tuple[dt.datetime, dt.datetime], title: str = "") -> Markup:
    """Transfers over time, USD value on a log scale; the alert's transfers in red."""
    ts = _TimeScale(*window)
    values = [math.log10(max(r["usd_value"], 1.0)) for r in transfers]
    ys = _LinearScale(min(values, default=0.0), max(values, default=1.0), TOP, VOL_BOTTOM,
                      label=lambda v: "$" + _num(10 ** v))
    parts = _svg_open(title or f"{len(transfers)} transfers over time", "evidence-chart")
    x0, x1 = ts(span[0]), ts(span[1])
    parts.append(f'<rect class="span" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 2):.1f}" '
                 f'height="{VOL_BOTTOM - TOP}"/>')
    for r, v in zip(transfers, values, strict=True):
        cls = "xfer evidence" if r["transfer_id"] in evidence else "xfer"
        tip = (f"{r['transfer_id']}: {r['kind']} {r['amount']:g} {r['asset']} (${r['usd_value']:,.0f}) "
               f"{r['from_party']} → {r['to_party']} at {r['ts']:%Y-%m-%d %H:%M:%S}")
        parts.append(f'<circle class="{cls}" cx="{ts(r["ts"]):.1f}" cy="{ys(v):.1f}" r="5"><title>{escape(tip)}'
                     "</title></circle>")
    _axes(parts, ts, ys, "USD (log scale)", VOL_BOTTOM)
    parts.append("</svg>")
    return Markup("".join(parts))

