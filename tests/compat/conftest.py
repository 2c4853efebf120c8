import pytest


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Ids of the runs submitted and queued on commit (no worker runs in these tests)."""
    started: list[int] = []
    monkeypatch.setattr("runs.queue.run_start", started.append)
    return started
