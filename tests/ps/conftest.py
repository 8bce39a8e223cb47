import pytest


@pytest.fixture(params=["dense", "sparse"])
def layout(request):
    """Each store layout (`tests.ps.stores.LAYOUTS`): a row per key, or rows for written keys only."""
    return request.param
