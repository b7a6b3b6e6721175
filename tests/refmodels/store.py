"""Built and saved references, made once per test session (or kept across sessions in a cache directory).

Tests ask ``store.get(name)`` for a model and its files; the first request builds, calibrates and saves,
later ones reuse. With ``NETC_REFMODEL_CACHE=DIR`` the files persist across sessions and a later session
loads the ``.keras`` file instead of rebuilding (the files are never committed: ResNet50 is 100 MB).
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

from refmodels import artifacts
from refmodels.artifacts import Saved
from refmodels.models import build

CACHE_ENV = "NETC_REFMODEL_CACHE"
SAVEDMODEL_FOR = "mobilenet_v3_large"   # the one reference also exported as a SavedModel directory


@dataclass
class Entry:
    model: object        # the float32 Keras model, calibrated
    files: Saved


class RefStore:
    def __init__(self, directory: pathlib.Path, size: int = 96, seed: int = 0):
        self.directory, self.size, self.seed = pathlib.Path(directory), size, seed
        self._entries: dict[str, Entry] = {}

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            stem = f"{name}_s{self.seed}_{self.size}px"
            files = Saved(self.directory / f"{stem}.keras", self.directory / f"{stem}.weights.h5",
                          self.directory / f"{stem}_savedmodel" if name == SAVEDMODEL_FOR else None)
            if files.keras.exists() and files.weights_h5.exists() and (files.savedmodel is None
                                                                      or files.savedmodel.exists()):
                model = artifacts.load_keras(files.keras)
            else:
                model = build(name, self.seed, self.size)
                files = artifacts.save(model, self.directory, stem, savedmodel=files.savedmodel is not None)
            self._entries[name] = Entry(model, files)
        return self._entries[name]


def store_directory(tmp_path_factory) -> pathlib.Path:
    cache = os.environ.get(CACHE_ENV)
    return pathlib.Path(cache) if cache else tmp_path_factory.mktemp("refmodels")
