"""NVIDIA's published StyleGAN2 and StyleGAN3 networks by short name, and where a `--checkpoint` value points.

`resolve_checkpoint("ffhq-1024")` downloads NVIDIA's FFHQ network into the cache once (see
`download.py`) and returns the cached file; a URL works the same way; anything else is a
path. The files are NVIDIA's pickles of the stylegan3 release's StyleGAN2 networks, which the safe
loader (`models/nvidia.py`) reads like any other pickle: downloading changes where a file comes
from, never how it is trusted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from .download import Limits, cache_name, cached_download, cached_hash, default_cache_dir, is_url, sha256_file

NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
SOURCE_PAGE = "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/stylegan2"
NGC3 = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/"
SOURCE_PAGE3 = "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/stylegan3"
LICENCE = "NVIDIA Source Code License-NC (non-commercial use only)"


@dataclass(frozen=True)
class Published:
    """One of NVIDIA's network pickles. `approx_mb`: estimated from the networks it holds (G, G_ema
    and D in fp32); the download checks the exact length the server announces. `sha256`: None until
    someone pins it (no machine that wrote this list could reach NVIDIA's server)."""

    name: str
    file: str
    what: str
    approx_mb: int
    sha256: str | None = None
    base: str = NGC

    @property
    def url(self) -> str:
        return self.base + self.file

    @property
    def max_bytes(self) -> int:
        """The most this file can be: twice the estimate. A server that announces no length (or
        streams without end) is cut off here instead of filling the disk."""
        return 2 * self.approx_mb * 1_000_000


CATALOG: tuple[Published, ...] = (
    Published("ffhq-1024", "stylegan2-ffhq-1024x1024.pkl", "faces (FFHQ), 1024 px", 360),
    Published("ffhq-512", "stylegan2-ffhq-512x512.pkl", "faces (FFHQ), 512 px", 350),
    Published("ffhq-256", "stylegan2-ffhq-256x256.pkl", "faces (FFHQ), 256 px", 290),
    Published("ffhqu-1024", "stylegan2-ffhqu-1024x1024.pkl", "faces, unaligned (FFHQ-U), 1024 px", 360),
    Published("metfaces-1024", "stylegan2-metfaces-1024x1024.pkl", "painted and sculpted faces (MetFaces), 1024 px", 360),
    Published("afhqcat-512", "stylegan2-afhqcat-512x512.pkl", "cats (AFHQ), 512 px", 350),
    Published("afhqdog-512", "stylegan2-afhqdog-512x512.pkl", "dogs (AFHQ), 512 px", 350),
    Published("afhqwild-512", "stylegan2-afhqwild-512x512.pkl", "wild animals (AFHQ), 512 px", 350),
    Published("celebahq-256", "stylegan2-celebahq-256x256.pkl", "faces (CelebA-HQ), 256 px", 290),
    Published("lsundog-256", "stylegan2-lsundog-256x256.pkl", "dogs (LSUN), 256 px", 290),
    # StyleGAN3 (alias-free; translate_x, translate_y and rotate move their input). Sizes are
    # estimated as above: G and G_ema (T-1024 22 M parameters, R-1024 15 M) and D, in fp32.
    *(Published(f"sg3{c}-{name}", f"stylegan3-{c}-{file}.pkl", f"StyleGAN3-{c.upper()}: {what}", mb, base=NGC3)
      for c in ("t", "r")
      for name, file, what, mb in (
          ("ffhq-1024", "ffhq-1024x1024", "faces (FFHQ), 1024 px", 300),
          ("ffhqu-1024", "ffhqu-1024x1024", "faces, unaligned (FFHQ-U), 1024 px", 300),
          ("ffhqu-256", "ffhqu-256x256", "faces, unaligned (FFHQ-U), 256 px", 170),
          ("metfaces-1024", "metfaces-1024x1024", "painted faces (MetFaces), 1024 px", 300),
          ("metfacesu-1024", "metfacesu-1024x1024", "painted faces, unaligned (MetFaces-U), 1024 px", 300),
          ("afhqv2-512", "afhqv2-512x512", "cats, dogs, wild animals (AFHQv2), 512 px", 320),
      )),
)


def find_published(name: str) -> Published | None:
    """The catalogue entry called `name`, or None."""
    return next((p for p in CATALOG if p.name == name), None)


def cached_path(entry: Published, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Where `entry` lies in the cache, or None when it has not been downloaded."""
    path = Path(cache_dir or default_cache_dir()) / cache_name(entry.url)
    return path if path.is_file() else None


def is_remote(source: str) -> bool:
    """True when `source` names something `resolve_checkpoint` may download (a URL or a short name)."""
    return is_url(source) or find_published(source) is not None


def resolve_checkpoint(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                       catalog: tuple[Published, ...] = CATALOG, limits: Limits | None = None) -> Path:
    """The local file for a checkpoint source: a URL or a published name (downloaded once into the
    cache), else the path itself. An existing file wins over a published name of the same spelling.

    `catalog` is data so that tests can point names at a server on 127.0.0.1; `limits` bound the
    download's stalls and disk use (`download.Limits`).
    """
    text = str(source)
    if is_url(text):
        return cached_download(text, cache_dir, limits=limits)
    path = Path(text).expanduser()
    entry = next((p for p in catalog if p.name == text), None)
    if entry is not None and not path.exists():
        return cached_download(entry.url, cache_dir, sha256=entry.sha256, limits=limits, max_bytes=entry.max_bytes)
    if not path.exists() and os.sep not in text and "/" not in text and not path.suffix:
        raise CheckpointError(f"{text}: no such file, and not a published network (stylevj models lists them)")
    return path


def unusable_download(source: str, path: Path, error: Exception) -> CheckpointError:
    """The one line for a downloaded copy that fails to load: which cache file to delete, and whether
    it changed since it was downloaded (its SHA-256 against the one recorded then), so a bad file
    never sits in the cache unexplained, failing every run."""
    reason = str(error).removeprefix(f"{path}: ")
    recorded = cached_hash(path)
    try:
        changed = recorded is not None and sha256_file(path) != recorded  # the error path only: hashing is fine
    except (OSError, CheckpointError):
        changed = False
    how = "it changed since it was downloaded" if changed else "it is what the server sent"
    return CheckpointError(f"{source}: the downloaded copy {path} cannot be loaded ({reason}); {how}; "
                           "delete it to download again")


def describe_catalog(cache_dir: str | os.PathLike | None = None) -> str:
    """The table `stylevj models` prints: names, sizes, what they draw, whether cached, the source."""
    lines = [f"{'name':<19} {'size':>9}  {'draws':<60} cached"]
    for p in CATALOG:
        here = cached_path(p, cache_dir)
        size = f"{here.stat().st_size / 1e6:.0f} MB" if here else f"~{p.approx_mb} MB"
        lines.append(f"{p.name:<19} {size:>9}  {p.what:<60} {'yes: ' + str(here) if here else 'no'}")
        digest = cached_hash(here) if here else None
        if digest:
            lines.append(f"{'':<19} {'':>9}  sha256 {digest}")
    lines += [
        "",
        f"source:  {SOURCE_PAGE} (files under {NGC})",
        f"         {SOURCE_PAGE3} (files under {NGC3})",
        f"licence: {LICENCE}",
        "use:     stylevj run --checkpoint ffhq-1024   (downloads once into the cache, then starts offline)",
        f"cache:   {Path(cache_dir or default_cache_dir())}",
        "Any https URL works too; pin its hash with URL#sha256=<64 hex digits>. Sizes with ~ are estimates.",
    ]
    return "\n".join(lines)
