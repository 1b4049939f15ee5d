import pytest
import torch

from gensci.core import state
from gensci.core.state import State, field_mask


def record(n: int = 4) -> State:
    g = torch.Generator().manual_seed(0)
    return State(pos=torch.randn(n, 5, 3, generator=g), types=torch.randint(0, 4, (n, 5), generator=g))


def test_a_state_batches_like_a_tensor():
    x = record()
    assert x.shape == torch.Size([4]) and len(x) == 4 and list(x.keys()) == ["pos", "types"]
    rows = x[1:3]
    assert isinstance(rows, State) and len(rows) == 2
    assert torch.equal(rows["pos"], x["pos"][1:3]) and torch.equal(rows["types"], x["types"][1:3])
    picked = x[torch.tensor([3, 0])]
    assert torch.equal(picked["types"], x["types"][[3, 0]])
    assert torch.equal(x[[3, 0]]["pos"], picked["pos"])
    one = x[2]  # an integer drops the axis, as for tensors
    assert one["pos"].shape == (5, 3) and one["types"].shape == (5,)
    both = state.cat([x, x[:1]])
    assert len(both) == 5 and torch.equal(both["pos"][4], x["pos"][0])
    path = state.stack([x, x.clone()])
    assert path.shape == torch.Size([2]) and path["pos"].shape == (2, 4, 5, 3)
    assert [len(frame) for frame in path] == [4, 4]
    assert x == x.clone() and x != x[:2]


def test_to_converts_floating_fields_only():
    x = record().to(torch.float64)
    assert x["pos"].dtype == torch.float64 and x["types"].dtype == torch.long


def test_helpers_take_tensors_records_and_dicts_alike():
    t = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(state.take(t, slice(1, 3)), t[1:])
    masks = {"pos": torch.ones(3, 5, dtype=torch.bool), "types": None}
    assert state.take(masks, slice(0, 2))["types"] is None
    assert state.take(masks, slice(0, 2))["pos"].shape == (2, 5)
    assert state.take(None, slice(0, 1)) is None
    assert state.cat([masks, masks])["pos"].shape == (6, 5)
    assert state.with_batch((10, 5, 3), 2) == (2, 5, 3)
    assert state.with_batch({"pos": (10, 5, 3), "types": (10, 5)}, 2) == {"pos": (2, 5, 3), "types": (2, 5)}
    assert field_mask(masks, "types") is None and field_mask(masks["pos"], "anything") is masks["pos"]


def test_bad_records_are_refused():
    with pytest.raises(ValueError, match="share the batch size"):
        State(a=torch.zeros(3, 2), b=torch.zeros(4))
    with pytest.raises(ValueError, match="at least one field"):
        State()
    with pytest.raises(ValueError, match="batch axis"):
        State(a=torch.tensor(1.0))
