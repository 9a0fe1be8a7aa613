"""Typed checkpoint metadata (explorer.metadata): old spellings read as one field, unknown keys kept,
the dict calls of 0.1 still work, and one class-name rule."""

from __future__ import annotations

import json
import struct

import pytest
import torch

import explorer
from explorer.metadata import ModelCard, TrainingSummary, class_names, dataset_name
from explorer.models.dcgan import DCGAN, DCGANConfig
from explorer.zoo import ModelEntry


def _tiny(num_classes: int = 0) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(DCGANConfig(resolution=32, channels=1, ngf=4, ndf=4, latent_dim=8, num_classes=num_classes)).eval()


def _rewrite_metadata(path, change) -> None:
    """Edit the JSON metadata of a safetensors file in place (to fake a file written by an old version)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["explorer"])
    change(meta)
    header["__metadata__"]["explorer"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def test_old_spellings_map_onto_one_field_and_unknown_keys_are_kept():
    card = ModelCard.from_dict({"title": "T", "license": "MIT", "known_limits": ["small"], "command": "x", "colour": "red"})
    assert (card.display_name, card.licence, card.limits, card.reproduce) == ("T", "MIT", ["small"], "x")
    assert card.extra == {"colour": "red"}
    assert card.to_dict() == {"title": "T", "licence": "MIT", "limits": ["small"], "reproduce": "x", "colour": "red"}
    summary = TrainingSummary.from_dict({"data": {"path": "/d/pets", "size": 3}, "iterations": 7, "losses": {"G": 1.0}})
    assert (summary.dataset, summary.steps, summary.final_losses) == ("/d/pets", 7, {"G": 1.0})
    assert summary.extra["dataset_details"] == {"path": "/d/pets", "size": 3}
    pair = TrainingSummary.from_dict({"dataset": ["emoji-google", "emoji-twitter"]})
    assert (pair.data_set("A"), pair.data_set("B")) == ("emoji-google", "emoji-twitter")
    # a current spelling beside an old one wins; the old one is kept, not lost
    both = ModelCard.from_dict({"licence": "MIT", "license": "GPL"})
    assert both.licence == "MIT" and both.extra == {"license": "GPL"}


def test_the_dict_calls_of_0_1_still_work():
    card = ModelCard.from_dict({"name": "n"})
    assert card["name"] == "n" and card.get("licence") is None and "licence" not in card
    card["license"] = "MIT"  # an old spelling sets the field
    assert card.licence == "MIT" and card["licence"] == "MIT" and "license" in card
    card.setdefault("imported", {}).setdefault("notes", []).append("a")
    assert card.imported == {"notes": ["a"]}
    card.update(name="m", colour="blue")
    assert dict(card) == {"name": "m", "licence": "MIT", "imported": {"notes": ["a"]}, "colour": "blue"}
    assert card == {"name": "m", "license": "MIT", "imported": {"notes": ["a"]}, "colour": "blue"}
    with pytest.raises(KeyError):
        card["nothing"]
    del card["colour"]
    assert "colour" not in card and len(card) == 3


def test_a_file_with_old_spellings_loads_into_the_typed_fields(tmp_path):
    path = explorer.save(_tiny(), tmp_path / "old.safetensors")

    def old(meta):
        meta["card"] = {"title": "old one", "license": "CC0", "dataset": "digits", "notes": ["n"], "mystery": 1}
        meta["summary"] = {"data_set": {"name": "digits"}, "iterations": 3, "losses": {"D": 0.5}}
    _rewrite_metadata(path, old)
    model = explorer.load(path, device="cpu")
    assert isinstance(model.card, ModelCard) and isinstance(model.summary, TrainingSummary)
    assert (model.card.display_name, model.card.licence, model.card.data) == ("old one", "CC0", "digits")
    assert (model.summary.dataset, model.summary.steps, model.summary.final_losses) == ("digits", 3, {"D": 0.5})
    # saving it again writes the current spellings and keeps what it does not know
    again = explorer.load(explorer.save(model, tmp_path / "new.safetensors"), device="cpu")
    stored = explorer.read_metadata(tmp_path / "new.safetensors")
    assert stored["card"] == {"title": "old one", "licence": "CC0", "data": "digits", "notes": ["n"], "mystery": 1}
    assert stored["summary"]["dataset"] == "digits" and stored["summary"]["steps"] == 3
    assert again.card == model.card and again.summary == model.summary
    entry = ModelEntry.from_metadata("user:old", path, "trained", explorer.read_metadata(path))
    assert (entry.name, entry.dataset, entry.card.licence) == ("old one", "digits", "CC0")


def test_assigning_a_dict_gives_a_record():
    model = _tiny()
    model.card = {"license": "MIT"}
    model.summary = None
    assert model.card.licence == "MIT" and model.summary == TrainingSummary()


def test_dataset_name_reads_summary_then_card_and_domains():
    assert dataset_name({"summary": {"dataset": "a", "dataset_b": "b"}}, "B") == "b"
    assert dataset_name({"summary": {"dataset": "a"}}, "B") == "a"  # 0.1 fell back to the model's data set
    assert dataset_name({"summary": {"preprocessing": {"source": "/p"}}}) == "/p"
    assert dataset_name({"summary": {"preprocessing": {"source": "/p"}}}, "A") is None
    assert dataset_name({"card": {"data": {"source": "fashion"}}}) == "fashion"
    assert dataset_name({"card": {"dataset": ["x", "y"]}}, "B") == "y"
    assert dataset_name({}) is None


def test_one_class_name_rule():
    model = _tiny(num_classes=3)
    assert class_names(model) == ["0", "1", "2"]
    model.card.class_names = ["a", "b"]  # wrong length: ignored
    assert class_names(model) == ["0", "1", "2"]
    model.card.class_names = ["a", "b", "c"]
    assert class_names(model) == ["a", "b", "c"]
    model.summary.class_names = ["x", "y", "z"]  # the summary says before the card
    assert class_names(model) == ["x", "y", "z"]
    assert class_names(_tiny()) == []
    ten = _tiny(num_classes=10)
    ten.summary.dataset = "fashion"  # a shipped data set names its classes
    assert class_names(ten)[9] == "Ankle boot"
    assert class_names(ten, {"summary": {}, "card": {"class_names": list("abcdefghij")}}) == list("abcdefghij")
