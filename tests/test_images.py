"""Image I/O: safe decoding of hostile uploads, every PIL mode, tensors, sizing, tiling, PNG provenance."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from explorer.errors import ImageInputError
from explorer.images import (
    SYNTHETIC_STATEMENT,
    crop_back,
    fit_to,
    latent_hash,
    load_image,
    make_grid,
    pad_to_multiple,
    pil_to_tensor,
    process_in_tiles,
    read_png_metadata,
    save_png,
    tensor_to_pil,
    tensor_to_uint8,
)


def _encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gradient(w=16, h=12) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None].repeat(w, 1)
    return np.stack([x, y, 255 - x], axis=2).round().astype(np.uint8)  # [H, W, 3]


# ----- modes -----------------------------------------------------------------------------
def test_rgb_and_l_roundtrip_exact():
    arr = _gradient()
    img = load_image(_encode(Image.fromarray(arr, "RGB")))
    assert img.mode == "RGB" and np.array_equal(np.asarray(img), arr)
    gray = load_image(_encode(Image.fromarray(arr[:, :, 0], "L")), mode="L")
    assert gray.mode == "L" and np.array_equal(np.asarray(gray), arr[:, :, 0])
    rgb_from_l = load_image(_encode(Image.fromarray(arr[:, :, 0], "L")))
    assert np.array_equal(np.asarray(rgb_from_l), np.repeat(arr[:, :, :1], 3, axis=2))


def test_alpha_is_composited_on_background():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red-ish
    rgba[:2, :, 3] = 255  # top half opaque, bottom half fully transparent
    rgba[2:, :2, 3] = 128  # half transparent patch
    out = np.asarray(load_image(_encode(Image.fromarray(rgba, "RGBA")), background=(0, 0, 255)))
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[3, 3]) == (0, 0, 255)
    assert abs(int(out[2, 0, 0]) - 100) <= 1 and abs(int(out[2, 0, 2]) - 127) <= 1
    la = Image.fromarray(np.stack([np.full((2, 2), 50, np.uint8), np.array([[255, 0], [255, 0]], np.uint8)], 2), "LA")
    out_l = np.asarray(load_image(_encode(la), mode="L", background=(255, 255, 255)))
    assert out_l[0, 0] == 50 and out_l[0, 1] == 255


def test_palette_with_and_without_transparency():
    p = Image.new("P", (3, 1))
    p.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    p.putdata([0, 1, 2])
    assert np.asarray(load_image(_encode(p))).tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]
    out = np.asarray(load_image(_encode(p, transparency=1), background=(10, 20, 30)))
    assert out.tolist() == [[[255, 0, 0], [10, 20, 30], [0, 0, 255]]]


def test_sixteen_bit_is_scaled_not_clipped():
    arr16 = np.array([[0, 257 * 100, 65535, 32896]], dtype=np.uint16)
    img = Image.fromarray(arr16)  # mode I;16
    assert img.mode == "I;16"
    out = np.asarray(load_image(_encode(img), mode="L"))
    assert out.tolist() == [[0, 100, 255, 128]]  # clipping would give [0, 255, 255, 255]
    img32 = Image.fromarray(arr16.astype(np.int32))  # mode I, 16-bit range
    assert np.asarray(load_image(img32, mode="L")).tolist() == [[0, 100, 255, 128]]
    wide = Image.fromarray(np.array([[-10, 0, 90]], np.int32))  # outside 0..65535: min-max scaled
    assert np.asarray(load_image(wide, mode="L")).tolist() == [[0, 26, 255]]


def test_float_bilevel_cmyk_modes():
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert np.asarray(load_image(f, mode="L")).tolist() == [[0, 128, 255]]
    f2 = Image.fromarray(np.array([[-1.0, 0.0, 3.0]], np.float32))
    assert np.asarray(load_image(f2, mode="L")).tolist() == [[0, 64, 255]]
    one = Image.fromarray(np.array([[0, 1, 1]], bool))
    assert one.mode == "1"
    assert np.asarray(load_image(_encode(one), mode="L")).tolist() == [[0, 255, 255]]
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # pure red in CMYK
    out = np.asarray(load_image(_encode(cmyk, "JPEG", quality=100)))
    assert out.shape == (2, 2, 3) and out[0, 0, 0] > 200 and out[0, 0, 1] < 60 and out[0, 0, 2] < 60
    ycc = Image.fromarray(_gradient()).convert("YCbCr")
    assert load_image(ycc).mode == "RGB"


def test_exif_orientation_applied():
    arr = np.zeros((2, 4, 3), np.uint8)
    arr[0, 0] = (255, 255, 255)  # marker at the top-left of a landscape image
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = load_image(_encode(img, exif=exif.tobytes()))
    assert out.size == (2, 4)  # portrait after rotation
    assert np.asarray(out)[0, 1].tolist() == [255, 255, 255]  # marker went to the top-right


# ----- hostile files ------------------------------------------------------------------------
def test_corrupt_truncated_and_non_images():
    good = _encode(Image.fromarray(_gradient(64, 64)), "PNG")
    with pytest.raises(ImageInputError, match="corrupt or truncated"):
        load_image(good[: len(good) // 2])
    with pytest.raises(ImageInputError, match="not an image"):
        load_image(b"this is not an image at all")
    with pytest.raises(ImageInputError, match="empty"):
        load_image(b"")
    jpg = _encode(Image.fromarray(_gradient(64, 64)), "JPEG")
    with pytest.raises(ImageInputError):
        load_image(jpg[:200])
    with pytest.raises(ImageInputError, match="no such"):
        load_image("/nonexistent/file.png")


def test_pixel_cap_checked_before_decoding(monkeypatch):
    big = _encode(Image.new("L", (300, 300)))
    decoded = []
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1))
    with pytest.raises(ImageInputError, match="megapixel"):
        load_image(big, max_pixels=10_000)
    assert decoded == []  # refused from the header alone


def test_decompression_bomb_warning_is_an_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageInputError, match="too large"):
        load_image(_encode(Image.new("L", (40, 40))), max_pixels=None)  # 1600 px > PIL limit


def test_byte_cap(tmp_path):
    data = _encode(Image.fromarray(_gradient(64, 64)))
    with pytest.raises(ImageInputError, match="too large|larger"):
        load_image(data, max_bytes=100)
    p = tmp_path / "x.png"
    p.write_bytes(data)
    with pytest.raises(ImageInputError, match="too large"):
        load_image(p, max_bytes=100)
    with pytest.raises(ImageInputError, match="larger"):
        load_image(io.BytesIO(data), max_bytes=100)
    assert load_image(p).size == (64, 64)


def test_animated_first_frame_or_refused():
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    img = load_image(buf.getvalue())
    assert tuple(np.asarray(img)[0, 0]) == (255, 0, 0)
    assert "3 frames" in img.info["gan_explorer_note"]
    with pytest.raises(ImageInputError, match="animated"):
        load_image(buf.getvalue(), allow_animated=False)


# ----- tensors and sizing --------------------------------------------------------------------
def test_tensor_roundtrip_lossless():
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = pil_to_tensor(Image.fromarray(arr))
    assert x.shape == (1, 3, 5, 7) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(tensor_to_uint8(x)[0], arr)
    assert np.array_equal(np.asarray(tensor_to_pil(x)), arr)
    g = pil_to_tensor(Image.fromarray(arr[:, :, 0]))
    assert g.shape == (1, 1, 5, 7) and tensor_to_pil(g).mode == "L"
    assert tensor_to_uint8(torch.tensor([[[-5.0, 5.0]]])).tolist() == [[[0], [255]]]
    with pytest.raises(ValueError):
        tensor_to_pil(torch.zeros(2, 3, 4, 4))


def test_fit_to_policies():
    img = Image.fromarray(_gradient(40, 20))  # 2:1 landscape
    crop = fit_to(img, 10)
    assert crop.size == (10, 10)
    pad = fit_to(img, 10, "pad", background=(0, 0, 0))
    assert pad.size == (10, 10)
    a = np.asarray(pad)
    assert a[0].sum() == 0 and a[-1].sum() == 0 and a[5].sum() > 0  # letterboxed top and bottom
    assert fit_to(img, (8, 6), "resize").size == (8, 6)
    assert fit_to(img, (40, 20)).size == (40, 20)
    with pytest.raises(ValueError):
        fit_to(img, 10, "stretch-ish")


def test_pad_to_multiple_and_crop_back():
    x = torch.randn(1, 3, 13, 10)
    padded, box = pad_to_multiple(x, 4)
    assert padded.shape == (1, 3, 16, 12)
    assert torch.equal(crop_back(padded, box), x)
    up = torch.nn.functional.interpolate(padded, scale_factor=4, mode="nearest")
    assert crop_back(up, box, scale=4).shape == (1, 3, 52, 40)
    tiny, box = pad_to_multiple(torch.randn(1, 1, 1, 1), 4)  # too small to reflect
    assert tiny.shape == (1, 1, 4, 4)


# ----- tiling ------------------------------------------------------------------------------------
def test_tiles_identity_and_pointwise_equal_whole_image():
    x = torch.rand(2, 3, 70, 53) * 2 - 1
    calls = []
    out = process_in_tiles(lambda t: t * 2 + 0.5, x, tile=24, overlap=8, progress=lambda d, n: calls.append((d, n)))
    assert torch.allclose(out, x * 2 + 0.5, atol=1e-5)
    assert calls[-1][0] == calls[-1][1] > 1


def test_tiles_with_scale_and_multiple():
    x = torch.rand(1, 1, 37, 29)
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=4, mode="nearest")  # noqa: E731
    seen = []

    def fn(t):
        seen.append(tuple(t.shape[-2:]))
        return up(t)

    out = process_in_tiles(fn, x, tile=16, overlap=4, scale=4, multiple=4)
    assert out.shape == (1, 1, 148, 116)
    assert torch.allclose(out, up(x), atol=1e-6)
    assert all(h % 4 == 0 and w % 4 == 0 for h, w in seen)


def test_tiles_blend_seams_of_a_local_filter():
    x = torch.rand(1, 1, 64, 64)
    blur = lambda t: torch.nn.functional.avg_pool2d(t, 3, 1, 1, count_include_pad=False)  # noqa: E731
    whole = blur(x)
    tiled = process_in_tiles(blur, x, tile=32, overlap=8)
    # the 3x3 filter's radius (1 px) fits in the ignored margin (8 // 4 = 2 px): no seams at all
    assert torch.allclose(tiled, whole, atol=1e-6)
    wide = lambda t: torch.nn.functional.avg_pool2d(t, 9, 1, 4, count_include_pad=False)  # noqa: E731
    err = (process_in_tiles(wide, x, tile=32, overlap=8) - wide(x)).abs()
    assert err.max() < 0.05  # radius 4 > margin: small blended differences near tile borders only


def test_tiles_pixel_cap():
    with pytest.raises(ImageInputError, match="megapixel"):
        process_in_tiles(lambda t: t, torch.zeros(1, 1, 100, 100), max_pixels=5000)


# ----- grids and PNG ----------------------------------------------------------------------------
def test_make_grid():
    x = torch.zeros(5, 3, 4, 6)
    g = make_grid(x, nrow=3, padding=1)
    assert g.size == (3 * 7 + 1, 2 * 5 + 1) and g.mode == "RGB"
    g1 = make_grid(torch.zeros(4, 1, 4, 4))
    assert g1.mode == "L" and g1.size == (2 * 6 + 2, 2 * 6 + 2)
    g2 = make_grid([Image.new("RGB", (3, 3))] * 2, nrow=2, padding=0)
    assert g2.size == (6, 3)


def test_save_png_lossless_with_provenance(tmp_path):
    x = torch.rand(1, 3, 9, 11) * 2 - 1
    z = torch.randn(1, 8)
    meta = {"model": "dcgan_digits", "model_hash": "abc123", "seed": 7, "latent_hash": latent_hash(z), "truncation": 0.7}
    path = save_png(x, tmp_path / "out" / "img.png", meta)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert np.array_equal(np.asarray(im), tensor_to_uint8(x)[0])
        assert im.text["Description"] == SYNTHETIC_STATEMENT
    back = read_png_metadata(path)
    for k, v in meta.items():
        assert back[k] == v
    assert back["synthetic"] is True and back["generator"] == "gan-explorer" and back["version"]
    plain = tmp_path / "plain.png"
    Image.new("L", (2, 2)).save(plain, pnginfo=PngImagePlugin.PngInfo())
    assert read_png_metadata(plain) == {}
    with pytest.raises(ImageInputError):
        save_png(x, tmp_path / "lossy.jpg", {})
    assert latent_hash(z) == latent_hash(z.clone()) != latent_hash(z + 1)


def test_bomb_message_says_what_is_wrong_without_pillows_wording(monkeypatch):
    # issue 13: the toast quoted Pillow's "could be decompression bomb DOS attack"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for size in ((40, 40), (100, 100)):  # warning range (< 2x the limit) and error range
        with pytest.raises(ImageInputError) as info:
            load_image(_encode(Image.new("L", size)), max_pixels=None)
        assert "DOS" not in str(info.value) and "attack" not in str(info.value) and "1,000 pixels" in str(info.value)


# ----- one decode policy for uploads and data sets (issue 11) ------------------------------------
def test_uploads_and_data_sets_decode_with_one_rule():
    from explorer.data.sources import ImageRejected, Limits, load_image_bytes, open_image

    assert ImageRejected is ImageInputError  # one error type, with a reason code
    arr16 = np.array([[0, 257 * 100, 65535, 32896]], dtype=np.uint16)
    data = _encode(Image.fromarray(arr16))  # 16-bit grey PNG
    upload = np.asarray(load_image(data, mode="L"))
    assert np.array_equal(load_image_bytes(data)[..., 0], upload) and upload.tolist() == [[0, 100, 255, 128]]
    rgba = Image.new("RGBA", (3, 2), (200, 10, 10, 0))  # fully transparent: the background shows
    assert np.array_equal(load_image_bytes(_encode(rgba)), np.asarray(load_image(_encode(rgba))))
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    for call in (lambda: open_image(buf.getvalue()), lambda: load_image(buf.getvalue(), allow_animated=False)):
        with pytest.raises(ImageInputError) as info:
            call()
        assert info.value.reason == "animated"
    big = _encode(Image.new("L", (300, 300)))
    for call in (lambda: open_image(big, Limits(max_pixels=1000)), lambda: load_image(big, max_pixels=1000)):
        with pytest.raises(ImageInputError, match="megapixel|pixels") as info:
            call()
        assert info.value.reason == "too_large"
    for call in (lambda: open_image(b"not an image"), lambda: load_image(b"not an image")):
        with pytest.raises(ImageInputError) as info:
            call()
        assert info.value.reason == "corrupt"


def test_a_truncated_png_is_refused_by_the_data_set_policy_which_verifies_checksums():
    from explorer.data.sources import open_image

    data = bytearray(_encode(Image.fromarray(_gradient(64, 64))))
    data[60] ^= 0xFF  # a flipped byte inside the image data: the CRC no longer matches
    with pytest.raises(ImageInputError) as info:
        open_image(bytes(data))
    assert info.value.reason == "corrupt" and info.value.detail.startswith("the file")
