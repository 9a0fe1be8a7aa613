"""Data for GAN Explorer: shipped real data sets, user folders/zips, cleaning, augmentation.

Public API::

    from explorer.data import get_dataset, shipped_arrays, list_shipped
    ds = get_dataset("digits", resolution=32, channels=1, split="train")
    images, labels = ds.tensors()             # [N, 1, 32, 32] float in [-1, 1], [N] int64
    ds.preprocessing                           # what was done, for the checkpoint
    report = clean_folder("raw/", "clean/", target_size=64); print(clean_report_text(report))
    aug = make_augment({"rotate": 10, "hflip": True}, seed=0); x = aug(images[:8])
    d_in = diff_augment(x, "color,translation,cutout")   # before D, real and fake alike

Modules: ``shipped`` (the .npz files), ``sources`` (safe folder/zip/image reading), ``dataset``
(ImageDataset, preprocessing policy, splits), ``cleaning`` (report), ``augment``, ``cli``.
Sources and licences of the shipped data: ``DATA_CARD.md`` next to this file.
"""

from .augment import Augmenter, diff_augment, make_augment
from .cleaning import CleaningReport, Dropped, clean_folder, clean_report_text
from .dataset import ImageDataset, get_dataset
from .shipped import list_shipped, shipped_arrays, shipped_info
from .sources import Limits, load_image_bytes

__all__ = [
    "Augmenter", "CleaningReport", "Dropped", "ImageDataset", "Limits",
    "clean_folder", "clean_report_text", "diff_augment", "get_dataset", "list_shipped",
    "load_image_bytes", "make_augment", "shipped_arrays", "shipped_info",
]
