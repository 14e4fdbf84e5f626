"""fan_out: one account pays many distinct receivers within a short window (dispersal to mules
or cash-out addresses). Exchange-owned (house) and market-maker accounts are never the payer; recurring
relationships (payroll) are skipped."""

from __future__ import annotations

import numpy as np

from harbour.detect.aml.base import GraphDetector, Pattern
from harbour.detect.aml.fans import FanConfig, find_fans
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.framework import register


class FanOutConfig(FanConfig):
    pass


def find(g: TransferGraph, cfg: FanOutConfig, claimed: np.ndarray) -> list[Pattern]:
    return find_fans(g, cfg, claimed, incoming=False, typology="fan_out")


class FanOutDetector(GraphDetector):
    name = "aml_fan_out"
    version = "1.0"
    typology = "fan_out"
    config_model = FanOutConfig
    description = "One account pays many distinct receivers within a window."


register(FanOutDetector())
