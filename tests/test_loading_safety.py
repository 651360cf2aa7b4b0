"""Loading never runs code from a checkpoint and refuses what is not on the allow-list."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys

import pytest
import torch

from realtime.errors import CheckpointError
from realtime.models import load_generator

from .forge import Reducer, dump, persistent


def test_pickle_calling_os_system_is_refused_by_name(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    dump({"G_ema": Reducer(os.system, f"touch {marker}")}, path)
    with pytest.raises(CheckpointError, match=r"os\.system|posix\.system") as err:
        load_generator(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_pickle_calling_eval_is_refused_by_name(tmp_path):
    path = tmp_path / "evil.pkl"
    dump(Reducer(builtins.eval, "__import__('os').getcwd()"), path)
    with pytest.raises(CheckpointError, match=r"builtins\.eval"):
        load_generator(path)


def test_hostile_global_nested_inside_a_persistent_object_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "nested.pkl"
    G = persistent("Generator", {"mapping": Reducer(os.system, f"touch {marker}")})
    dump({"G_ema": G}, path)
    with pytest.raises(CheckpointError, match="allow-list"):
        load_generator(path)
    assert not marker.exists()


def test_trap_pickle_loads_without_running_its_source_even_from_a_fresh_process(fixtures, tmp_path):
    marker = "/tmp/stylevj_pkl_code_ran"
    if os.path.exists(marker):
        os.remove(marker)
    code = f"from realtime.models import load_generator; G = load_generator({str(fixtures / 'nvada_trap.pkl')!r}); print(G.num_ws)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8"
    assert not os.path.exists(marker)


def test_torch_file_with_a_foreign_object_is_refused_by_name(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"g_ema": {}, "extra": Reducer(os.system, "true")}, path)
    with pytest.raises(CheckpointError, match=r"(posix|os)\.system.*allow-list"):
        load_generator(path)


def test_a_hollow_stylegan3_network_is_one_clear_line(tmp_path):
    """StyleGAN3 pickles load now (tests/test_stylegan3.py); one without weights is refused."""
    path = tmp_path / "sg3.pkl"
    synthesis = persistent("SynthesisNetwork", {"input": persistent("SynthesisInput"), "L0_36_512": persistent("SynthesisLayer")})
    G = persistent("Generator", {"mapping": persistent("MappingNetwork"), "synthesis": synthesis}, c_dim=0)
    dump({"G_ema": G, "D": None}, path)
    with pytest.raises(CheckpointError, match="mapping network has no layers") as err:
        load_generator(path)
    assert "\n" not in str(err.value)


def test_conditional_network_is_refused_clearly(tmp_path):
    path = tmp_path / "cond.pkl"
    G = persistent("Generator", {"mapping": persistent("MappingNetwork"), "synthesis": persistent("SynthesisNetwork")}, c_dim=10)
    dump({"G_ema": G}, path)
    with pytest.raises(CheckpointError, match="conditional"):
        load_generator(path)


def test_pickle_without_a_generator_is_refused(tmp_path):
    path = tmp_path / "empty.pkl"
    dump({"D": None}, path)
    with pytest.raises(CheckpointError, match="no generator"):
        load_generator(path)


def test_a_numpy_bomb_inside_a_network_pickle_is_one_line(tmp_path):
    """An array whose pickled state claims 12 TiB: refused in one line, nothing allocated."""
    import pickle

    import numpy as np

    reconstruct, args, state = np.zeros(4, np.float32).__reduce__()
    bomb = tmp_path / "bomb.pkl"

    class Bomb:
        def __reduce__(self):
            return reconstruct, args, (state[0], (3_500_000, 3_500_000, 1), state[2], state[3], state[4])

    bomb.write_bytes(pickle.dumps({"G_ema": Bomb()}, protocol=4))
    with pytest.raises(CheckpointError) as err:
        load_generator(bomb)
    assert str(bomb) in str(err.value) and "\n" not in str(err.value)
