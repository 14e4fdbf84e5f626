"""``harbour generate``: a deterministic, streaming synthetic market with labelled incidents.

Example::

    from harbour.data.generate import GenerateConfig, generate_market
    summary = generate_market(GenerateConfig(venues=3, days=2, accounts=2000, seed=7, out=Path("var/lake")))
"""

from harbour.data.generate.config import Difficulty, GenerateConfig
from harbour.data.generate.run import GenerateSummary, generate_market

__all__ = ["Difficulty", "GenerateConfig", "GenerateSummary", "generate_market"]
