"""Datasets: locating, checking and loading what a job trains on."""
from train_jobs.data.imagefolder import (DatasetError, ImageFolderIndex, ImageRefused, captioned, decode_images,
                                         load_rgb, png_base64, scan_imagefolder)
from train_jobs.data.fetch import local_dataset_path

__all__ = ["DatasetError", "ImageFolderIndex", "ImageRefused", "captioned", "decode_images", "load_rgb", "local_dataset_path",
           "png_base64", "scan_imagefolder"]
