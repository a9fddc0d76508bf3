"""`tpdask demo` never overwrites a data folder it did not make."""

import pytest

from tests.support import make_config, sample, write_samples
from tpdask.demo import run_demo
from tpdask.errors import ConfigError


def test_the_demo_refuses_a_data_folder_holding_real_data_for_its_day(tmp_path):
    config = make_config(tmp_path)
    folder = write_samples(config, "2022-08-01", [sample(1659312000, {"s": ["ann"]})])
    with pytest.raises(ConfigError, match="already holds data for 2022-08-01"):
        run_demo(config, "2022-08-01", log=lambda m: None)
    assert (folder / "1659312000.json").exists()
