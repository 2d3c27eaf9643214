"""Datasets: download, file readers and datamodules."""
