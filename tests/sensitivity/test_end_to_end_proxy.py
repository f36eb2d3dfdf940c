"""The sensitivity proxy on an end-to-end head (YOLO26): it compares every candidate of the one-to-one branch, not
the top-k rows, whose selection and order differ between two models."""
from pathlib import Path

import torch

from sensitivity.analysis import first_output, proxy_layout
from sensitivity.proxy import decoded_output_error
from yolo.checkpoint import load_model
from yolo.family import ANCHOR_FREE, END_TO_END
from yolo.registry import head_layout_of

DATA = Path(__file__).resolve().parents[1] / "yolo" / "data" / "ultralytics"


def test_proxy_sees_every_candidate_of_the_end_to_end_head():
    model = load_model(DATA / "yolo26-thin.pt")
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    reference = first_output(model, x)
    assert proxy_layout(model) is ANCHOR_FREE and head_layout_of(model) is END_TO_END  # the model itself unchanged
    assert reference.shape == (2, 4 + 8, 8 * 12 + 4 * 6 + 2 * 3)
    assert decoded_output_error(reference, reference, proxy_layout(model)) == 0.0
    perturbed = model.detect.one2one_cv3[0][2]
    with torch.no_grad():
        perturbed.bias += 1.0  # every class score of the stride-8 candidates rises
    error = decoded_output_error(reference, first_output(model, x), proxy_layout(model))
    assert error > 0.1
