import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "scripts" / "pipeline"
sys.path.insert(0, str(PIPELINE))

BBQ_DIR = ROOT.parent / "shared" / "evals" / "bbq" / "data"
BASELINE = ROOT / "seeds" / "baseline-constitution.json"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs the real pipeline (smoke profile) as a subprocess")


@pytest.fixture
def bbq_dir():
    if not BBQ_DIR.is_dir():
        pytest.skip(f"BBQ data not found at {BBQ_DIR}")
    return BBQ_DIR
