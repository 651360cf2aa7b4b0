"""`stylevj preview`: a contact sheet of the show, to plan a set before the stage. No GL.

Frames are sampled evenly along the path, every keyframe included; keyframe frames get a
coloured frame and their name, so a VJ sees where each face sits in the morph.
"""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw

from ..images import to_rgb8
from ..latent import Player

KEYFRAME_COLOUR = (255, 196, 0)


def sample_times(player: Player, per_segment: int) -> tuple[torch.Tensor, list[int | None]]:
    """Times along the whole path (keyframes included) and, per time, the keyframe index or None."""
    path = player.path
    if path is None or path.length == 0:
        return torch.zeros(1, dtype=torch.float64), [0 if player.keyframes else None]
    steps = int(round(path.length)) * per_segment
    times = torch.arange(steps + (0 if path.closed else 1), dtype=torch.float64) / per_segment
    marks = [int(t) if i % per_segment == 0 else None for i, t in enumerate(times.tolist())]
    return times, marks


@torch.inference_mode()
def contact_sheet(G, player: Player, noise_mode: str = "const", per_segment: int = 4, columns: int = 8,
                  thumb: int = 160, batch: int = 4) -> Image.Image:
    times, marks = sample_times(player, per_segment)
    ws = player.sample(times)
    tiles = []
    for chunk in ws.split(batch):
        for img in G.synthesis(chunk.to(G.device), noise_mode=noise_mode):
            tiles.append(Image.fromarray(to_rgb8(img)).resize((thumb, thumb), Image.LANCZOS))
    pad = 6
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (thumb + pad) + pad, rows * (thumb + pad) + pad), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    for n, (tile, mark) in enumerate(zip(tiles, marks)):
        x, y = pad + (n % columns) * (thumb + pad), pad + (n // columns) * (thumb + pad)
        sheet.paste(tile, (x, y))
        if mark is not None:
            draw.rectangle([x - 3, y - 3, x + thumb + 2, y + thumb + 2], outline=KEYFRAME_COLOUR, width=3)
            label = f"{mark}: {player.keyframes[mark].name}"
            draw.rectangle([x, y, x + 7 * len(label) + 6, y + 14], fill=(0, 0, 0))
            draw.text((x + 3, y + 1), label, fill=KEYFRAME_COLOUR)
    return sheet
