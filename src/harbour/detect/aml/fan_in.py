"""fan_in: many distinct senders pay one account within a short window (collection of funds from mules
or victims). Exchange-owned (house) and market-maker accounts are never the collector."""

from __future__ import annotations

import numpy as np

from harbour.detect.aml.base import GraphDetector, Pattern
from harbour.detect.aml.fans import FanConfig, find_fans
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.framework import register


class FanInConfig(FanConfig):
    pass


def find(g: TransferGraph, cfg: FanInConfig, claimed: np.ndarray) -> list[Pattern]:
    return find_fans(g, cfg, claimed, incoming=True, typology="fan_in")


class FanInDetector(GraphDetector):
    name = "aml_fan_in"
    version = "1.0"
    typology = "fan_in"
    config_model = FanInConfig
    description = "One account receives from many distinct senders within a window."


register(FanInDetector())
