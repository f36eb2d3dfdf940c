"""Letterbox geometry (hand-computed) and box back-mapping, as YOLOv5 val.py does it."""
import cv2
import numpy as np
import pytest
import torch

from yolo.letterbox import letterbox, load_resized, preprocess, rect_batches, scale_boxes


def test_long_side_resize_then_square_pad():
    img = np.zeros((480, 640, 3), np.uint8)  # h, w
    resized = load_resized(img, 320)
    assert resized.shape[:2] == (240, 320)  # ratio 0.5
    boxed, ratio, (dw, dh) = letterbox(resized, 320)
    assert boxed.shape[:2] == (320, 320)
    assert ratio == (1.0, 1.0) and (dw, dh) == (0.0, 40.0)  # 80 rows of padding split 40 / 40
    assert (boxed[:40] == 114).all() and (boxed[-40:] == 114).all() and (boxed[40:280] == 0).all()


def test_long_side_rounds_up_like_yolov5():
    # 427 * 0.5 = 213.5 -> ceil 214 rows (yolov5 v6.2+), pad (320 - 214) / 2 = 53 each side
    chw, meta = preprocess(np.zeros((427, 640, 3), np.uint8), 320)
    assert meta.resized_shape == (214, 320) and meta.pad == (0.0, 53.0)
    assert meta.ratio == pytest.approx(214 / 427)  # val.py's gain: resized height / original height
    assert np.allclose(chw[:, :53], 114 / 255) and np.allclose(chw[:, 267:], 114 / 255)
    assert (chw[:, 53:267] == 0).all()


def test_enlarging_small_image():
    # 100x50 at 320: ratio 3.2 (INTER_LINEAR), 320x160, pad 80 left and right
    resized = load_resized(np.full((100, 50, 3), 7, np.uint8), 320)
    assert resized.shape[:2] == (320, 160) and (resized == 7).all()
    _, meta = preprocess(np.full((100, 50, 3), 7, np.uint8), 320)
    assert meta.ratio == pytest.approx(3.2) and meta.pad == (80.0, 0.0)


def test_odd_padding_split_like_yolov5():
    img = np.zeros((100, 201, 3), np.uint8)
    boxed, (r, _), (dw, dh) = letterbox(img, 256, scaleup=False)
    assert r == 1.0 and dw == 27.5 and dh == 78.0
    # round(27.5 - 0.1) = 27 on the left, round(27.5 + 0.1) = 28 on the right
    rows = slice(78, 178)  # 78 padding rows above and below the 100 image rows
    assert (boxed[:78] == 114).all() and (boxed[178:] == 114).all()
    assert (boxed[rows, :27] == 114).all() and (boxed[rows, 27] == 0).all()
    assert (boxed[rows, 228:] == 114).all() and (boxed[rows, 227] == 0).all()


def test_preprocess_output_layout():
    img = np.zeros((60, 80, 3), np.uint8)
    img[..., 2] = 255  # red in BGR
    chw, meta = preprocess(img, 64)
    assert chw.shape == (3, 64, 64) and chw.dtype == np.float32
    assert chw[0, 32, 32] == 1.0 and chw[2, 32, 32] == 0.0  # RGB order
    assert meta.original_shape == (60, 80) and meta.pad == (0.0, 8.0)
    assert chw[0, 0, 0] == pytest.approx(114 / 255)


def test_scale_boxes_round_trip():
    h0, w0, imgsz = 480, 640, 320
    gain = 0.5
    original = torch.tensor([[100.0, 50.0, 300.0, 200.0], [0.0, 0.0, 640.0, 480.0]])
    on_input = original * gain
    on_input[:, [1, 3]] += 40  # vertical padding
    back = scale_boxes((imgsz, imgsz), on_input.clone(), (h0, w0))
    assert torch.allclose(back, original)


def test_scale_boxes_with_meta_ratio_pad_round_trip():
    img = np.zeros((427, 640, 3), np.uint8)
    _, meta = preprocess(img, 320)
    original = torch.tensor([[10.0, 20.0, 630.0, 400.0]])
    on_input = original * meta.ratio
    on_input[:, [0, 2]] += meta.pad[0]
    on_input[:, [1, 3]] += meta.pad[1]
    back = scale_boxes((320, 320), on_input, meta.original_shape, meta.ratio_pad)
    assert torch.allclose(back, original, atol=1e-4)


def test_scale_boxes_clips_to_image():
    back = scale_boxes((320, 320), torch.tensor([[-10.0, 20.0, 400.0, 300.0]]), (480, 640))
    assert back[0, 0] == 0 and back[0, 2] == 640 and back[0, 3] == 480


def test_rect_batches_hand_computed_shapes():
    # aspect h/w: 0.75, 1.0, 1.25, 0.8 -> sorted 0.75, 0.8 | 1.0, 1.25 in batches of 2
    sizes = [(240, 320), (320, 320), (320, 256), (256, 320)]
    plan = rect_batches(sizes, 256, batch=2)
    assert [list(indices) for indices, _ in plan] == [[0, 3], [1, 2]]
    # batch 1: widest aspect 0.8 -> (0.8 * 256 / 32 + 0.5 = 6.9 -> 7, 256 / 32 + 0.5 = 8.5 -> 9) strides
    assert plan[0][1] == (7 * 32, 9 * 32)
    # batch 2: aspects 1.0 and 1.25 -> min > 1 fails, max < 1 fails: square, 9 strides a side
    assert plan[1][1] == (288, 288)
    # a batch of tall images only: (1, 1 / 1.25) -> (9, ceil(0.8 * 8 + 0.5) = 7) strides
    assert rect_batches([(320, 256)], 256, batch=4)[0][1] == (288, 224)
    # no padding, stride 64: 0.75 * 256 / 64 = 3 -> 192 high, 256 wide
    assert rect_batches([(240, 320)], 256, batch=1, stride=64, pad=0.0)[0][1] == (192, 256)


def test_rect_preprocess_into_batch_shape():
    chw, meta = preprocess(np.zeros((240, 320, 3), np.uint8), 256, shape=(224, 288))
    # resized to 192 x 256, then (288 - 256) / 2 = 16 columns and (224 - 192) / 2 = 16 rows each side
    assert chw.shape == (3, 224, 288) and meta.resized_shape == (192, 256)
    assert meta.pad == (16.0, 16.0) and meta.border == (16, 16)
    assert (chw[:, 16:208, 16:272] == 0).all() and np.allclose(chw[:, :16], 114 / 255)


def test_linear_style_resizes_like_ultralytics():
    img = (np.arange(60 * 80 * 3) % 251).astype(np.uint8).reshape(60, 80, 3)
    resized = load_resized(img, 64, style="linear")
    assert resized.shape[:2] == (48, 64)
    assert (resized == cv2.resize(img, (64, 48), interpolation=cv2.INTER_LINEAR)).all()
    assert not (load_resized(img, 64) == resized).all()  # val.py shrinks with INTER_AREA
    # sides rounded up but capped at imgsz: 641 x 3 at 320 -> ceil(320 * 3 / 641) = 2 wide, 320 high (not 321)
    assert load_resized(np.zeros((641, 3, 3), np.uint8), 320, style="linear").shape[:2] == (320, 2)
    with pytest.raises(ValueError, match="resize style"):
        load_resized(img, 64, style="cubic")


def test_linear_style_maps_back_with_per_axis_gain_and_whole_pixel_pad():
    # 427 x 640 at 320: resized 214 x 320 (gain_y 214 / 427, gain_x 0.5), pad (320 - 214) / 2 = 53 rows on top
    img = np.zeros((427, 640, 3), np.uint8)
    _, meta = preprocess(img, 320, style="linear")
    (gain_y, gain_x), (pad_x, pad_y) = meta.ratio_pad
    assert gain_y == pytest.approx(214 / 427) and gain_x == pytest.approx(0.5) and (pad_x, pad_y) == (0.0, 53.0)
    original = torch.tensor([[10.0, 20.0, 630.0, 400.0]])
    on_input = original * torch.tensor([gain_x, gain_y, gain_x, gain_y]) + torch.tensor([0.0, 53.0, 0.0, 53.0])
    back = scale_boxes((320, 320), on_input, meta.original_shape, meta.ratio_pad)
    assert torch.allclose(back, original, atol=1e-4)
    # odd padding: 100 x 201 (long side already imgsz) into 256 x 256 -> 27.5 columns each side: val.py
    # subtracts 27.5, ultralytics the 27 letterbox added on the left
    _, v5 = preprocess(np.zeros((100, 201, 3), np.uint8), 201, shape=(256, 256))
    _, ul = preprocess(np.zeros((100, 201, 3), np.uint8), 201, shape=(256, 256), style="linear")
    assert v5.ratio_pad[1][0] == 27.5 and ul.ratio_pad[1][0] == 27.0
