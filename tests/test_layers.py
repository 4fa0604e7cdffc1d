import pytest

from billy_interp.core.layers import LayerConvention, parse_hook_name


def test_paper_layer_20_is_block_19_resid_post():
    conv = LayerConvention(32)
    assert conv.paper_layer_to_block(20) == 19
    assert conv.paper_layer_hook(20) == "blocks.19.hook_resid_post"
    assert conv.block_to_paper_layer(19) == 20


def test_round_trip_every_layer():
    conv = LayerConvention(30)
    for block in conv.blocks:
        assert conv.paper_layer_to_block(conv.block_to_paper_layer(block)) == block
        assert conv.block_of(conv.hook_name(block)) == block


@pytest.mark.parametrize("bad", [0, 31, -1])
def test_paper_layer_out_of_range_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="out of range"):
        LayerConvention(30).paper_layer_to_block(bad)


@pytest.mark.parametrize("bad", [-1, 30, 99])
def test_block_out_of_range_names_the_valid_range(bad):
    with pytest.raises(ValueError, match=r"0\.\.29"):
        LayerConvention(30).hook_name(bad)


def test_parse_hook_name():
    assert parse_hook_name("blocks.3.hook_resid_pre") == (3, "resid_pre")
    with pytest.raises(ValueError, match="not a residual-stream hook"):
        parse_hook_name("blocks.3.attn.hook_pattern")


def test_scaled_paper_layer_keeps_relative_depth():
    assert LayerConvention(32).scaled_paper_layer(20) == 20
    assert LayerConvention(30).scaled_paper_layer(20) == 19
