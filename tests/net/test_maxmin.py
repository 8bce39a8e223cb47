"""Weighted max-min fair allocation: hand-computed cases and the bottleneck property."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekkosim.net import maxmin
from ekkosim.net.maxmin import allocate

inf = math.inf


def csr(routes):
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in routes])]).astype(np.intp)
    indices = np.array([link for r in routes for link in r], dtype=np.intp)
    return indptr, indices


def alloc(capacity, routes, weights=None, bounds=None):
    indptr, indices = csr(routes)
    return allocate(np.array(capacity, float), indptr, indices, weights, bounds)


def test_lone_flow_gets_the_bottleneck():
    assert alloc([10.0, 3.0, 7.0], [[0, 1, 2]]).tolist() == [3.0]


def test_equal_share_of_one_link():
    assert alloc([10.0], [[0], [0]]).tolist() == [5.0, 5.0]


def test_textbook_two_links_three_flows():
    # A = 10 carries f1, f2; B = 20 carries f2, f3. A saturates first at 5 each; f3 gets 15.
    assert alloc([10.0, 20.0], [[0], [0, 1], [1]]).tolist() == [5.0, 5.0, 15.0]


def test_weights_split_a_bottleneck_proportionally():
    rates = alloc([10.0], [[0], [0]], weights=np.array([3.0, 1.0]))
    assert rates.tolist() == [7.5, 2.5]


def test_bounded_flow_releases_capacity():
    rates = alloc([10.0], [[0], [0]], bounds=np.array([2.0, inf]))
    assert rates.tolist() == [2.0, 8.0]


def test_bound_above_fair_share_does_not_bind():
    rates = alloc([10.0], [[0], [0]], bounds=np.array([6.0, inf]))
    assert rates.tolist() == [5.0, 5.0]


def test_unlimited_links():
    rates = alloc([inf, 4.0], [[0], [0, 1], []], bounds=np.array([inf, inf, 3.0]))
    assert rates.tolist() == [inf, 4.0, 3.0]


def test_zero_capacity_stalls_only_its_flows():
    rates = alloc([0.0, 10.0], [[0], [0, 1], [1]])
    assert rates.tolist() == [0.0, 0.0, 10.0]


def test_link_crossed_twice_counts_twice():
    assert alloc([10.0], [[0, 0], [0]]).tolist() == [10 / 3, 10 / 3]


def test_any_array_layout_and_integer_type_is_taken():
    """Views with strides, broadcast weights and bounds, int32 routes: the compiled loops take
    contiguous arrays of their declared types, which `allocate` makes of what it is given."""
    capacity = np.array([10.0, 99.0, 20.0, 99.0])[::2]  # links 0 and 1: 10 and 20, strided
    indptr, indices = csr([[0], [0, 1], [1]])
    rates = allocate(capacity, indptr.astype(np.int32), indices.astype(np.int32),
                     np.broadcast_to(np.array(1.0), 3), np.broadcast_to(np.array(inf), 3))
    assert rates.tolist() == [5.0, 5.0, 15.0]


def test_no_flows():
    assert alloc([1.0], []).size == 0


@pytest.mark.parametrize(
    "capacity, weights, bounds",
    [
        ([-1.0], None, None),
        ([math.nan], None, None),
        ([1.0], np.array([0.0]), None),
        ([1.0], np.array([inf]), None),
        ([1.0], None, np.array([-1.0])),
    ],
)
def test_rejects_bad_inputs(capacity, weights, bounds):
    with pytest.raises(ValueError):
        alloc(capacity, [[0]], weights, bounds)


def test_rejects_unknown_link():
    with pytest.raises(ValueError):
        alloc([1.0], [[1]])


@st.composite
def problems(draw):
    n_links = draw(st.integers(1, 5))
    capacity = draw(
        st.lists(
            st.one_of(st.just(0.0), st.just(inf), st.floats(0.5, 1e3)),
            min_size=n_links,
            max_size=n_links,
        )
    )
    n_flows = draw(st.integers(1, 8))
    routes = draw(
        st.lists(
            st.lists(st.integers(0, n_links - 1), min_size=0, max_size=3),
            min_size=n_flows,
            max_size=n_flows,
        )
    )
    weights = draw(st.lists(st.floats(0.1, 10), min_size=n_flows, max_size=n_flows))
    bounds = draw(
        st.lists(st.one_of(st.just(inf), st.floats(0, 500)), min_size=n_flows, max_size=n_flows)
    )
    return capacity, routes, np.array(weights), np.array(bounds)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_weighted_max_min_bottleneck_property(problem):
    """Feasible, and every flow is at its bound or has a bottleneck: a saturated link on its
    route where no flow gets a larger rate per unit weight (the definition of max-min)."""
    capacity, routes, weights, bounds = problem
    rates = alloc(capacity, routes, weights, bounds)
    tol = 1e-9
    assert np.all(rates <= bounds * (1 + tol))
    load = np.zeros(len(capacity))
    for route, rate in zip(routes, rates):
        for link in route:
            load[link] += rate
    assert np.all(load <= np.array(capacity) * (1 + tol) + tol)
    level = rates / weights

    def is_bottleneck(link, i):
        saturated = load[link] >= capacity[link] * (1 - tol)
        sharers = [j for j, route in enumerate(routes) if link in route]
        return saturated and all(level[j] <= level[i] * (1 + tol) + tol for j in sharers)

    for i, route in enumerate(routes):
        if rates[i] >= bounds[i] * (1 - tol):
            continue
        assert route, "an unbounded flow on no link must run at its bound (inf)"
        assert any(is_bottleneck(link, i) for link in route), f"flow {i} has no bottleneck"


# The compiled path (small inputs) must give bitwise the rates of the NumPy path: run digests
# depend on every bit of every rate.


def _bits(rates):
    return np.asarray(rates, dtype=np.float64).view(np.uint64).tolist()


def _random_problem(rng, n_flows=None):
    n_links = int(rng.integers(1, 25))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        capacity = rng.integers(0, 5, n_links).astype(float)  # ties and zeros
    elif kind == 1:
        capacity = 10.0 ** rng.uniform(-3, 12, n_links)
    else:
        capacity = rng.choice([0.0, -0.0, 1.0, 3.0, 1e3 / 7, 125e6, 1e-300, 1e300], n_links)
    capacity[rng.random(n_links) < 0.15] = inf
    n_flows = int(rng.integers(1, 40)) if n_flows is None else n_flows
    routes = [rng.integers(0, n_links, int(rng.integers(0, 7))).tolist() for _ in range(n_flows)]
    weights = bounds = None
    draw = rng.random()
    if draw < 0.3:
        weights = 1.0 / rng.choice([0.001, 0.01, 0.02, 0.05, 0.0123], n_flows)
    elif draw < 0.4:
        weights = 10.0 ** rng.uniform(-200, 200, n_flows)  # extreme: may take the fallback
    draw = rng.random()
    if draw < 0.3:
        bounds = rng.choice([0.0, 1.0, 2.0, 3.5, inf, 1e8], n_flows)
    elif draw < 0.4:
        bounds = rng.uniform(0, 1e9, n_flows)
    return capacity, routes, weights, bounds


def _numpy_rates(capacity, routes, weights, bounds):
    indptr, indices = csr(routes)
    n_flows = len(routes)
    return maxmin._allocate_numpy(
        capacity,
        indptr,
        indices,
        np.ones(n_flows) if weights is None else weights,
        np.full(n_flows, inf) if bounds is None else bounds,
        n_flows,
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # extreme weights overflow in NumPy
def test_a_lone_flow_is_bitwise_the_numpy_path():
    """A flow alone on its links takes a shortcut (the network's commonest recomputation)."""
    rng = np.random.default_rng(20261205)
    for _ in range(3000):
        capacity, routes, weights, bounds = _random_problem(rng, n_flows=1)
        reference = _numpy_rates(capacity, routes, weights, bounds)
        assert _bits(maxmin.allocate_routes(capacity, routes, weights, bounds)) == _bits(reference)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # extreme weights overflow in NumPy
def test_compiled_path_is_bitwise_the_numpy_path():
    rng = np.random.default_rng(20240601)
    for _ in range(3000):
        capacity, routes, weights, bounds = _random_problem(rng)
        indptr, indices = csr(routes)
        reference = _numpy_rates(capacity, routes, weights, bounds)
        assert _bits(allocate(capacity, indptr, indices, weights, bounds)) == _bits(reference)
        assert _bits(maxmin.allocate_routes(capacity, routes, weights, bounds)) == _bits(
            reference
        )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # extreme weights overflow in NumPy
def test_flows_that_share_no_link_each_get_bitwise_their_lone_rate():
    """The network allocates a few flows that share no link one by one (`Network._allocation`)."""
    rng = np.random.default_rng(20261206)
    for _ in range(2000):
        n_flows = int(rng.integers(2, 6))
        capacity, _, weights, bounds = _random_problem(rng, n_flows=n_flows)
        owner = rng.integers(0, n_flows, capacity.size)  # each link one flow's
        routes = [rng.choice(np.flatnonzero(owner == i), int(rng.integers(0, 4))).tolist()
                  if (owner == i).any() else [] for i in range(n_flows)]
        joint = maxmin.allocate_routes(capacity, routes, weights, bounds)
        alone = [maxmin.allocate_routes(capacity, [route], None if weights is None else weights[i : i + 1],
                                        None if bounds is None else bounds[i : i + 1])[0]
                 for i, route in enumerate(routes)]
        assert _bits(joint) == _bits(alone)


def test_large_inputs_take_the_numpy_path():
    n_flows = maxmin._LOOP_MAX_NNZ  # two links each: over the compiled path's limit
    routes = [[i % 7, 7 + i % 5] for i in range(n_flows)]
    capacity = np.array([float(10 + i) for i in range(12)])
    indptr, indices = csr(routes)
    rates = allocate(capacity, indptr, indices)
    assert _bits(rates) == _bits(maxmin.allocate_routes(capacity, routes))
    assert np.all(rates > 0)
