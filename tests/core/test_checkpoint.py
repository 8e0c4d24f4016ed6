"""save_checkpoint → load_checkpoint round trip of a shrunk network, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _nets import SPECS, kill, warm_up_bn

from shrinknets_core.errors import ShrinkNetsError
from shrinknets_core.export.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from shrinknets_core.network.models import build_model
from shrinknets_core.removal import remove_dead


@pytest.mark.parametrize("name", ["mlp_bn", "cnn", "linear"])
def test_round_trip_of_a_shrunk_model(name: str, tmp_path: Path) -> None:
    m = build_model(SPECS[name], seed=3)
    x = torch.randn(8, m.spec.in_features)
    warm_up_bn(m, x)
    opt = torch.optim.Adam(m.parameters())
    m(x).pow(2).mean().backward()
    opt.step()
    kill(m)
    remove_dead(m, opt, step=7)
    m.switches()[0].alive[0] = False  # dead but not yet removed: must survive too
    path = tmp_path / "net.pt"
    save_checkpoint(path, m, opt)

    loaded = load_checkpoint(path)
    assert loaded.spec == m.spec and loaded.widths() == m.widths()
    assert [r.to_dict() for r in loaded.removal_log] == [r.to_dict() for r in m.removal_log]
    assert not loaded.switches()[0].alive[0]
    m.eval()
    loaded.eval()
    assert torch.equal(loaded(x), m(x))
    # the optimizer state loads into an optimizer over the rebuilt parameters
    opt2 = torch.optim.Adam(loaded.parameters())
    opt2.load_state_dict(read_checkpoint(path)["optimizer"])
    for p, q in zip(loaded.parameters(), m.parameters(), strict=True):
        assert torch.equal(opt2.state[p]["exp_avg"], opt.state[q]["exp_avg"])


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ShrinkNetsError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ShrinkNetsError, match="could not be read"):
        load_checkpoint(junk)
    partial = tmp_path / "partial.pt"
    torch.save({"spec": SPECS["mlp"].to_dict()}, partial)
    with pytest.raises(ShrinkNetsError, match=r"lacks \['format', 'removal_log', 'state_dict'\]"):
        load_checkpoint(partial)
