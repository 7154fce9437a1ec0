"""Shared fixtures for the data and metrics tests."""

import pytest

from slt.data import SyntheticConfig


@pytest.fixture
def small_config() -> SyntheticConfig:
    """Small, fast synthetic videos with every hazard switched on often enough to appear in 30 frames."""
    return SyntheticConfig(height=96, width=112, num_frames=30, out_of_view_prob=1.0, occluder_prob=0.7,
                           num_distractors=(1, 2))
