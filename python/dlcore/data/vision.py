"""MNIST (IDX files) and CIFAR-10 (binary batches) read from a local directory.

Nothing is downloaded. Files are checked before use:

* **checksums** - ``checksums=None`` (default) verifies every file that has a
  known official digest: the MD5s the dataset authors publish for the four
  MNIST ``.gz`` files and for ``cifar-10-binary.tar.gz``. Uncompressed or
  extracted files have no published digest; pass your own as
  ``checksums={"train-images-idx3-ubyte": "<sha256 or md5 hex>", ...}``
  (keys are file names; 64 hex digits = SHA-256, 32 = MD5; a
  ``"sha256:"``/``"md5:"`` prefix is also accepted). Files not in the mapping
  are not hashed. ``checksums=False`` skips hashing entirely.
* **structure** - always: IDX magic numbers, dims and byte counts; CIFAR
  record size (3073 bytes) and label range. A malformed file raises
  ``ValueError`` naming the file and what was wrong; a missing one raises
  ``FileNotFoundError`` listing the expected file names and where they were
  looked for.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from pathlib import Path
from typing import Mapping

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = ["read_idx", "MNIST", "CIFAR10", "MNIST_MD5", "CIFAR10_ARCHIVE_MD5"]

#: Official MD5s of the MNIST archives (as published with the dataset and used by torchvision).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: Official MD5 of ``cifar-10-binary.tar.gz`` (from the CIFAR-10 page).
CIFAR10_ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the extension
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path.name}: corrupt gzip data ({e})") from None
    return raw


def _parse_idx(buf: bytes, name: str) -> np.ndarray:
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        raise ValueError(f"{name}: not an IDX file (bad magic number {buf[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_IDX_DTYPES[buf[2]]), buf[3]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{name}: truncated IDX header (need {header} bytes, got {len(buf)})")
    dims = tuple(int(d) for d in np.frombuffer(buf, ">u4", ndim, 4))
    want = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(buf) != want:
        raise ValueError(
            f"{name}: IDX dims {dims} need {want} bytes, file has {len(buf)} (truncated or corrupt)"
        )
    return np.frombuffer(buf, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format; gzipped or not) into a NumPy array.

    Examples::

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.idx"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> dlcore.data.read_idx(p).tolist()
        [7, 8, 9]
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path.name)


def _parse_digest(value: str) -> tuple[str, str]:
    value = value.strip().lower()
    if ":" in value:
        algo, _, hexd = value.partition(":")
    else:
        algo, hexd = {32: "md5", 64: "sha256"}.get(len(value), ""), value
    if algo not in ("md5", "sha256") or len(hexd) != {"md5": 32, "sha256": 64}[algo]:
        raise ValueError(f"checksum {value!r}: expected 32 (MD5) or 64 (SHA-256) hex digits")
    return algo, hexd


def _verify(path: Path, checksums, official: Mapping[str, str]) -> None:
    if checksums is False:
        return
    table = official if checksums is None else checksums
    if path.name not in table:
        return
    algo, want = _parse_digest(table[path.name])
    h = hashlib.new(algo)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != want:
        source = "the official" if checksums is None else "the given"
        raise ValueError(
            f"{path}: {algo} checksum {h.hexdigest()} does not match {source} {want}; the file is "
            "corrupt or not the expected one (pass checksums=False to skip verification)"
        )


def _find(dirs: list[Path], names: list[str], dataset: str) -> Path:
    for d in dirs:
        for name in names:
            if (d / name).is_file():
                return d / name
    raise FileNotFoundError(
        f"{dataset}: expected file {' or '.join(names)} in one of {[str(d) for d in dirs]}, "
        "found none (dlcore never downloads: put the official files there)"
    )


class _ImageDataset:
    """Shared batching: ``data`` uint8 (N, C, H, W) -> float32 in [0, 1]."""

    data: np.ndarray
    targets: np.ndarray
    transform = None

    def __len__(self) -> int:
        return len(self.targets)

    def _get_batch(self, indices) -> list[Tensor]:
        idx = np.asarray(indices, dtype=np.int64)
        x = dlcore.from_numpy(self.data[idx].astype(np.float32) * np.float32(1 / 255))
        if self.transform is not None:
            x = self.transform(x)
        return [x, dlcore.from_numpy(self.targets[idx])]

    def __getitem__(self, index: int):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {n} samples")
        x, y = self._get_batch([index % n])
        return x[0], y[0]


class MNIST(_ImageDataset):
    r"""MNIST handwritten digits from local IDX files (LeCun et al., 1998).

    Looks in ``root``, ``root/MNIST/raw`` and ``root/raw`` for
    ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` (``train=True``)
    or ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte``, each optionally
    with ``.gz``. Fashion-MNIST and KMNIST use the same files and load too.

    Args:
        root (str or Path): directory holding the files.
        train (bool): the 60k training set, else the 10k test set.
        transform (callable, optional): applied to image batches ``(N, 1, 28, 28)``.
        checksums: ``None`` (official MD5s of the ``.gz`` files), a mapping
            ``{file name: hex digest}``, or ``False`` (see module docstring).

    Attributes:
        data (numpy.ndarray): uint8 images ``(N, 1, 28, 28)``.
        targets (numpy.ndarray): int64 labels ``(N,)``.

    Shape:
        - image: :math:`(1, 28, 28)` float32 in :math:`[0, 1]`; label: int64 scalar.
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root, train: bool = True, transform=None, checksums=None) -> None:
        root = Path(root)
        dirs = [root, root / "MNIST" / "raw", root / "raw"]
        prefix = "train" if train else "t10k"
        paths = []
        for kind in ("images-idx3", "labels-idx1"):
            base = f"{prefix}-{kind}-ubyte"
            path = _find(dirs, [base, base + ".gz"], "MNIST")
            _verify(path, checksums, MNIST_MD5)
            paths.append(path)
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{paths[0].name}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"{paths[1].name}: expected {len(images)} labels for {paths[0].name}, got shape {labels.shape}"
            )
        self.data = np.ascontiguousarray(images[:, None])
        self.targets = labels.astype(np.int64)
        self.transform, self.train, self.root = transform, train, root

    @staticmethod
    def _files(train: bool = True) -> list[str]:
        p = "train" if train else "t10k"
        return [f"{p}-images-idx3-ubyte[.gz]", f"{p}-labels-idx1-ubyte[.gz]"]


class CIFAR10(_ImageDataset):
    r"""CIFAR-10 from the official binary version (Krizhevsky, 2009).

    Reads ``data_batch_1.bin`` .. ``data_batch_5.bin`` (``train=True``) or
    ``test_batch.bin`` from ``root/cifar-10-batches-bin`` or ``root`` itself,
    or, if those are absent, straight out of ``root/cifar-10-binary.tar.gz``
    (no extraction; the archive's official MD5 is checked). Each record is one
    label byte then 3072 pixel bytes (R, G, B planes of 32x32).

    Args:
        root (str or Path): directory holding the files.
        train (bool): the 50k training set, else the 10k test set.
        transform (callable, optional): applied to image batches ``(N, 3, 32, 32)``.
        checksums: ``None`` (official MD5 of the archive), a mapping
            ``{file name: hex digest}``, or ``False`` (see module docstring).

    Attributes:
        data (numpy.ndarray): uint8 images ``(N, 3, 32, 32)``.
        targets (numpy.ndarray): int64 labels ``(N,)``.
    """

    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    ARCHIVE = "cifar-10-binary.tar.gz"
    RECORD = 1 + 3 * 32 * 32

    def __init__(self, root, train: bool = True, transform=None, checksums=None) -> None:
        root = Path(root)
        names = self._files(train)
        dirs = [root / "cifar-10-batches-bin", root]
        blobs = []
        for name in names:
            found = [d / name for d in dirs if (d / name).is_file()]
            if not found:
                break
            _verify(found[0], checksums, {})
            blobs.append((name, found[0].read_bytes()))
        else:
            names = []
        if names:  # some batch file missing: fall back to the archive
            blobs = self._from_archive(root, names, checksums, dirs)
        images, labels = zip(*(self._parse(name, raw) for name, raw in blobs))
        self.data = np.concatenate(images)
        self.targets = np.concatenate(labels)
        self.transform, self.train, self.root = transform, train, root

    @staticmethod
    def _files(train: bool = True) -> list[str]:
        return [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]

    def _from_archive(self, root: Path, names, checksums, dirs) -> list[tuple[str, bytes]]:
        archive = root / self.ARCHIVE
        if not archive.is_file():
            raise FileNotFoundError(
                f"CIFAR10: expected {names} in {[str(d) for d in dirs]} or the archive {archive} "
                "(the binary version from the CIFAR-10 page; dlcore never downloads)"
            )
        _verify(archive, checksums, {self.ARCHIVE: CIFAR10_ARCHIVE_MD5})
        out = []
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                for name in names:
                    if name not in members:
                        raise FileNotFoundError(f"CIFAR10: {archive.name} has no member {name}")
                    out.append((name, tar.extractfile(members[name]).read()))
        except (tarfile.TarError, OSError, EOFError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise ValueError(f"{archive}: unreadable archive ({e})") from None
        return out

    def _parse(self, name: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
        if len(raw) == 0 or len(raw) % self.RECORD:
            raise ValueError(
                f"{name}: {len(raw)} bytes is not a whole number of {self.RECORD}-byte CIFAR-10 "
                "records (truncated or not the binary version)"
            )
        rec = np.frombuffer(raw, np.uint8).reshape(-1, self.RECORD)
        labels = rec[:, 0].astype(np.int64)
        if labels.max() > 9:
            raise ValueError(f"{name}: label {labels.max()} out of range 0..9 (not CIFAR-10 binary data?)")
        return rec[:, 1:].reshape(-1, 3, 32, 32), labels

