"""Market-abuse detectors, one module per typology; importing this package registers them all.

``harbour.detect.builtin.load_detectors()`` imports it. ``authenticity`` holds the venue-level wash-trading
screens (Benford, round sizes, power-law tail), which are reports rather than alert-raising detectors.
"""

from harbour.detect.market import (  # noqa: F401  (imported to register the detectors)
    cross_venue,
    front_running,
    insider_pre_listing,
    layering,
    marking_the_close,
    momentum_ignition,
    pump_and_dump,
    quote_stuffing,
    spoofing,
    wash_trade,
)

DETECTOR_MODULES = (cross_venue, front_running, insider_pre_listing, layering, marking_the_close,
                    momentum_ignition, pump_and_dump, quote_stuffing, spoofing, wash_trade)
