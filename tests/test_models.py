"""Networks of Sec. II-B / II-D: shapes, hand-counted parameters, the RL head, gradients."""

import pytest
import torch
from torch import nn

from rlnet.models import (
    MODEL_NAMES,
    ModelOutput,
    build_model,
    model_family,
    seg_loss,
    spatial_multiple,
)
from rlnet.models.blocks import SCSE, ConvNormAct

W = 2  # small width keeps every test fast


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def inputs(shape: tuple[int, ...], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(shape, generator=g)
    candidates = (torch.rand(shape, generator=g) > 0.5).float()
    voxel_size = torch.rand(shape[0], generator=g) + 0.5
    return image, candidates, voxel_size


# Hand counts for 2D layers at the paper's width (w = 32). Each conv has a bias, as in Keras:
# a conv with a k x k kernel from i to o channels has k*k*i*o + o parameters, batch norm 2*o
# (scale and shift; running statistics are buffers), a dense layer i*o + o.
def conv_bn_relu(k: int, i: int, o: int) -> int:
    return k * k * i * o + o + 2 * o


UNET_2D_W32 = (
    # encoder: two conv3 + BN per level, widths 32, 64, 128, 256
    conv_bn_relu(3, 1, 32) + conv_bn_relu(3, 32, 32)
    + conv_bn_relu(3, 32, 64) + conv_bn_relu(3, 64, 64)
    + conv_bn_relu(3, 64, 128) + conv_bn_relu(3, 128, 128)
    + conv_bn_relu(3, 128, 256) + conv_bn_relu(3, 256, 256)
    # bottleneck: two conv3 of 512
    + conv_bn_relu(3, 256, 512) + conv_bn_relu(3, 512, 512)
    # decoder: conv2 after up-sampling, concat doubles the channels, two conv3
    + conv_bn_relu(2, 512, 256) + conv_bn_relu(3, 512, 256) + conv_bn_relu(3, 256, 256)
    + conv_bn_relu(2, 256, 128) + conv_bn_relu(3, 256, 128) + conv_bn_relu(3, 128, 128)
    + conv_bn_relu(2, 128, 64) + conv_bn_relu(3, 128, 64) + conv_bn_relu(3, 64, 64)
    + conv_bn_relu(2, 64, 32) + conv_bn_relu(3, 64, 32) + conv_bn_relu(3, 32, 32)
    # 1x1 conv to one channel
    + 32 * 1 + 1
)  # fmt: skip
UNET_ENCODER_2D_W32 = UNET_2D_W32 - (
    conv_bn_relu(2, 512, 256) + conv_bn_relu(3, 512, 256) + conv_bn_relu(3, 256, 256)
    + conv_bn_relu(2, 256, 128) + conv_bn_relu(3, 256, 128) + conv_bn_relu(3, 128, 128)
    + conv_bn_relu(2, 128, 64) + conv_bn_relu(3, 128, 64) + conv_bn_relu(3, 64, 64)
    + conv_bn_relu(2, 64, 32) + conv_bn_relu(3, 64, 32) + conv_bn_relu(3, 32, 32)
    + 32 * 1 + 1
)  # fmt: skip
SDNET_2D_W32 = (
    # c = 128 everywhere; encoder 3 x two conv3, bottleneck two conv3
    conv_bn_relu(3, 1, 128) + conv_bn_relu(3, 128, 128)
    + 2 * conv_bn_relu(3, 128, 128) + 2 * conv_bn_relu(3, 128, 128)
    + 2 * conv_bn_relu(3, 128, 128)
    # decoder 3 x (conv3 after unpooling, conv3 on the 256-channel concat, conv3)
    + 3 * (conv_bn_relu(3, 128, 128) + conv_bn_relu(3, 256, 128) + conv_bn_relu(3, 128, 128))
    + 128 * 1 + 1
)  # fmt: skip
SDNET_ENCODER_2D_W32 = conv_bn_relu(3, 1, 128) + 7 * conv_bn_relu(3, 128, 128)
# FC 512 + FC 512 + one linear unit on the pooled features
FC_HEAD = {c: (c * 512 + 512) + (512 * 512 + 512) + (512 * 1 + 1) for c in (256, 512, 128)}
BASELINE_2D_W32 = (
    (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128) + (9 * 128 * 256 + 256)
    + FC_HEAD[256]
)  # fmt: skip


def scse(c: int) -> int:
    # FC c -> c/2, FC c/2 -> c, 1x1 conv c -> 1
    return (c * (c // 2) + c // 2) + ((c // 2) * c + c) + (c * 1 + 1)


# one scSE block per encoder level (before pooling) and per decoder level
SENET_2D_W32 = UNET_2D_W32 + 2 * (scse(32) + scse(64) + scse(128) + scse(256))
SENET_ENCODER_2D_W32 = UNET_ENCODER_2D_W32 + scse(32) + scse(64) + scse(128) + scse(256)


def test_model_names_order_and_attributes():
    assert MODEL_NAMES == (
        "baseline", "enc-unet", "enc-senet", "enc-sdnet",
        "rl-unet", "rl-senet", "rl-sdnet", "seg-unet",
    )  # fmt: skip
    for name in MODEL_NAMES:
        model = build_model(name, 2, W)
        assert model.family == model_family(name)  # the family decides the loss
        assert spatial_multiple(name) % model.multiple == 0


def test_unknown_name_lists_known_models():
    with pytest.raises(ValueError, match="rl-unet") as err:
        build_model("rl-vnet", 2, W)
    assert all(name in str(err.value) for name in MODEL_NAMES)
    with pytest.raises(ValueError, match="seg-unet"):
        spatial_multiple("unet")


def test_bad_spatial_dims_and_width():
    with pytest.raises(ValueError, match="spatial_dims"):
        build_model("rl-unet", 1, W)
    with pytest.raises(ValueError, match="base_width"):
        build_model("rl-unet", 2, 0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rl-unet", UNET_2D_W32),
        ("seg-unet", UNET_2D_W32),
        ("rl-senet", SENET_2D_W32),
        ("rl-sdnet", SDNET_2D_W32),
        ("enc-unet", UNET_ENCODER_2D_W32 + FC_HEAD[512]),
        ("enc-senet", SENET_ENCODER_2D_W32 + FC_HEAD[512]),
        ("enc-sdnet", SDNET_ENCODER_2D_W32 + FC_HEAD[128]),
        ("baseline", BASELINE_2D_W32),
    ],
)
def test_parameter_counts_at_paper_width_match_hand_count(name, expected):
    assert n_params(build_model(name, 2, 32)) == expected


def test_scse_parameter_count_and_definition():
    block = SCSE(2, 64)
    assert n_params(block) == 64 * 32 + 32 + 32 * 64 + 64 + 64 + 1
    x = torch.randn(2, 64, 8, 8)
    c = torch.sigmoid(block.excite(torch.relu(block.squeeze(x.mean((2, 3))))))[:, :, None, None]
    s = torch.sigmoid(block.spatial(x))
    torch.testing.assert_close(block(x), x * c + x * s)


def test_even_kernel_pads_like_keras_same():
    # kernel 2: nothing before, one zero after each axis, so the size is kept
    assert ConvNormAct(2, 1, 1, kernel_size=2)[0].padding == (0, 1, 0, 1)
    assert ConvNormAct(3, 1, 1, kernel_size=2)[0].padding == (0, 1, 0, 1, 0, 1)
    assert ConvNormAct(2, 1, 1, kernel_size=2)(torch.randn(2, 1, 5, 6)).shape == (2, 1, 5, 6)


SHAPES_2D = [(2, 1, 16, 16), (3, 1, 32, 48), (1, 1, 64, 16)]
SHAPES_3D = [(1, 1, 16, 16, 32), (2, 1, 16, 32, 48)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shapes(name):
    for dims, shapes in ((2, SHAPES_2D), (3, SHAPES_3D)):
        model = build_model(name, dims, W)
        for shape in shapes:
            out = model(*inputs(shape))
            assert isinstance(out, ModelOutput)
            assert out.value.shape == (shape[0],)
            if model.family == "enc":
                assert out.localization is None and out.prob is None
            else:
                assert out.localization.shape == shape and out.prob.shape == shape
                assert ((out.prob > 0) & (out.prob < 1)).all()


@pytest.mark.parametrize("dims", [2, 3])
def test_sdnet_accepts_multiples_of_8(dims):
    shape = (1, 1, 8, 24) if dims == 2 else (1, 1, 8, 24, 16)
    for name in ("rl-sdnet", "enc-sdnet"):
        out = build_model(name, dims, W)(*inputs(shape))
        assert out.value.shape == (1,)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_wrong_input_size_raises(name):
    bad = (1, 1, 16, 20)  # 20 is divisible by neither 8 nor 16
    with pytest.raises(ValueError, match=r"\(1, 1, 16, 20\)"):
        build_model(name, 2, W)(*inputs(bad))
    with pytest.raises(ValueError, match="3D network"):
        build_model(name, 3, W)(*inputs((1, 1, 16, 16)))


@pytest.mark.parametrize("name", ["rl-unet", "rl-senet", "rl-sdnet"])
@pytest.mark.parametrize("dims", [2, 3])
def test_rl_localization_inside_candidates_and_value_is_its_sum(name, dims):
    shape = (2, 1, 16, 16) if dims == 2 else (2, 1, 16, 16, 16)
    image, candidates, voxel_size = inputs(shape)
    model = build_model(name, dims, W)
    out = model(image, candidates, voxel_size)
    assert (out.localization[candidates == 0] == 0).all()
    torch.testing.assert_close(out.localization, out.prob * candidates)
    expected = torch.stack([out.localization[b].sum() * voxel_size[b] for b in range(2)])
    torch.testing.assert_close(out.value, expected)


def test_rl_output_bias_sets_initial_sigmoid():
    model = build_model("rl-unet", 2, W, output_bias=-3.0)
    assert (model.backbone.head.bias == -3.0).all()
    default = build_model("rl-sdnet", 2, W)
    assert (default.backbone.head.bias == -2.0).all()


def test_rl_rejects_mismatched_candidates_and_voxel_size():
    model = build_model("rl-unet", 2, W)
    image, candidates, voxel_size = inputs((2, 1, 16, 16))
    with pytest.raises(ValueError, match="candidates"):
        model(image, candidates[:1], voxel_size)
    with pytest.raises(ValueError, match="voxel_size"):
        model(image, candidates, voxel_size[:1])


def test_enc_target_scale_multiplies_output_and_is_saved():
    model = build_model("enc-unet", 2, W).eval()
    image, candidates, voxel_size = inputs((2, 1, 16, 16))
    before = model(image, candidates, voxel_size).value
    model.target_scale.fill_(250.0)
    torch.testing.assert_close(model(image, None, None).value, before * 250.0)
    assert model.state_dict()["target_scale"] == 250.0


def test_seg_value_counts_thresholded_map():
    model = build_model("seg-unet", 2, W)
    image, _, voxel_size = inputs((2, 1, 16, 16))
    out = model(image, None, voxel_size)
    torch.testing.assert_close(out.localization, (out.prob > 0.5).float())
    torch.testing.assert_close(out.value, (out.prob > 0.5).sum((1, 2, 3)) * voxel_size)


def test_seg_loss():
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 2:5] = 1
    perfect = seg_loss(mask.clamp(1e-6, 1 - 1e-6), mask)
    wrong = seg_loss((1 - mask).clamp(1e-6, 1 - 1e-6), mask)
    assert perfect.ndim == 0 and perfect < 1e-3
    assert wrong > 1.0
    empty = torch.zeros_like(mask)
    assert seg_loss(torch.full_like(mask, 1e-6), empty) < 1e-3  # smoothing: empty vs empty


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("dims", [2, 3])
def test_gradients_reach_first_conv(name, dims):
    shape = (2, 1, 16, 16) if dims == 2 else (2, 1, 16, 16, 16)
    image, candidates, voxel_size = inputs(shape)
    torch.manual_seed(0)
    model = build_model(name, dims, W)
    out = model(image, candidates, voxel_size)
    if model.family == "seg":
        loss = seg_loss(out.prob, candidates)
    else:
        loss = (out.value - 10.0).abs().mean()
    loss.backward()
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv3d))
    assert first_conv.in_channels == 1
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_initial_weights(name):
    def weights(seed):
        torch.manual_seed(seed)
        return build_model(name, 2, W).state_dict()

    a, b, c = weights(1), weights(1), weights(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
