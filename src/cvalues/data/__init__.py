"""Datasets: item schemas, official sources (verified downloads), readers and MC loaders.

The public API is what this module names; the modules behind it are free to change.
"""

from cvalues.data.encoding import git_blob_sha1, read_text, sha256_file
from cvalues.data.items import DOMAINS, LABELS, MCDataset, MCItem, PairItem, PromptItem, pair_id_for
from cvalues.data.readers import Row, read_rows
from cvalues.data.resolve import MC_FORMATS, SAMPLE_NAME, load_mc_dataset, mc_dataset_names
from cvalues.data.sources import OFFICIAL_SOURCES, OfficialSource, fetch_official

__all__ = [
    "DOMAINS",
    "LABELS",
    "MC_FORMATS",
    "OFFICIAL_SOURCES",
    "SAMPLE_NAME",
    "MCDataset",
    "MCItem",
    "OfficialSource",
    "PairItem",
    "PromptItem",
    "Row",
    "fetch_official",
    "git_blob_sha1",
    "load_mc_dataset",
    "mc_dataset_names",
    "pair_id_for",
    "read_rows",
    "read_text",
    "sha256_file",
]
