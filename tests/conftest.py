import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

def pytest_configure(config):
    # Tests read the corpus through configuration, never from the network.
    env = os.environ.get("GPT_COURSE_DATA") or str(ROOT.parent/"shared"/"data"/"tinyshakespeare.txt")
    if not Path(env).exists():
        raise pytest.UsageError(f"GPT_COURSE_DATA={env} does not exist: point it at tinyshakespeare.txt")
    os.environ["GPT_COURSE_DATA"] = str(Path(env).resolve())
    os.environ.setdefault("MPLBACKEND", "Agg")

@pytest.fixture(scope="session")
def splits():
    from gpt_course.data import load_splits
    return load_splits()
