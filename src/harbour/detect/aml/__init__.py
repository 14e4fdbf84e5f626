"""AML transaction monitoring: transfer-graph typologies, wallet exposure and travel-rule checks, and a
learned scorer. Importing this package registers every AML detector (``harbour.detect.builtin``)."""

from harbour.detect.aml import (  # noqa: F401  (imported to register)
    bipartite,
    cycle,
    exposure,
    fan_in,
    fan_out,
    gather_scatter,
    peel_chain,
    rapid_movement,
    scatter_gather,
    stack,
    structuring,
    travel_rule,
)
