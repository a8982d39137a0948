"""Digits rendered from the DejaVu TrueType fonts that come with matplotlib, at MNIST's size and polarity.

:func:`render` draws each digit with a font drawn from :class:`RenderSettings`
(weight and slant are separate fonts), at a random height, rotation, shear and
extra stroke thickness, fits it into MNIST's 20 x 20 box, centres it by its
centre of mass in a 28 x 28 image (as MNIST's digits were made), moves it, and
adds blur and noise: white ink (1) on black (0), float32. The synthetic-data
simulation (:mod:`analysis.lab.synthetic_data`) prices these digits in real
MNIST labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from analysis.core.errors import InputError

SIDE = 28  # MNIST's image side (pixels)
BOX = 20  # MNIST fitted each digit into a 20 x 20 box, then centred it by its centre of mass
SCALE = 2  # glyphs are drawn at 2x and reduced: anti-aliased edges, at a quarter of 4x's cost


class SyntheticDataError(InputError):
    """A rendering setting or a simulation request is unusable; the message says why."""


def font_dir() -> Path:
    """Where matplotlib keeps its TrueType fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


#: The DejaVu fonts installed with matplotlib (name -> file): weight and slant are separate files.
FONTS = {p.stem: p.name for p in sorted(font_dir().glob("DejaVu*.ttf")) if "Display" not in p.stem}

#: Each range setting: (label, unit, hard limits) for messages and inputs.
RANGES = {
    "height": ("Digit height", "pixels of 28", (4.0, 28.0)),
    "rotation": ("Rotation", "degrees", (-90.0, 90.0)),
    "shear": ("Shear", "x shift per pixel of height", (-1.0, 1.0)),
    "stroke": ("Extra stroke thickness", "pixels", (0.0, 4.0)),
    "blur": ("Blur", "Gaussian sigma, pixels", (0.0, 3.0)),
    "noise": ("Noise", "sd, ink = 1", (0.0, 0.5)),
    "shift": ("Position", "pixels from the centre", (-6.0, 6.0)),
}



@dataclass(frozen=True)
class RenderSettings:
    """How digits are rendered; each range is ``(low, high)`` and every digit draws uniformly within it.

    ``fonts``: names from :data:`FONTS`, one drawn per digit; ``height``: the
    digit's height in pixels of the 28 x 28 image (capped so that it fits
    MNIST's 20 x 20 box); ``rotation``: degrees, anticlockwise; ``shear``:
    horizontal shear (x moves by ``shear`` pixels per pixel of height);
    ``stroke``: extra stroke thickness in pixels; ``blur``: Gaussian sigma in
    pixels; ``noise``: sd of added Gaussian noise (ink is 1, background 0,
    clipped to [0, 1]); ``shift``: pixels the digit moves from the centre of
    mass, in x and y independently. Defaults were set by eye against real
    MNIST digits (sample grid on the page): strokes 2-3 pixels wide, little blur.
    """

    fonts: tuple = tuple(FONTS)
    height: tuple = (17.0, 20.0)
    rotation: tuple = (-15.0, 15.0)
    shear: tuple = (-0.3, 0.3)
    stroke: tuple = (0.5, 2.0)
    blur: tuple = (0.0, 0.6)
    noise: tuple = (0.0, 0.03)
    shift: tuple = (-2.0, 2.0)

    def check(self) -> "RenderSettings":
        """The settings as plain tuples of floats; :class:`SyntheticDataError` naming the first bad one."""
        fonts = tuple(self.fonts) if not isinstance(self.fonts, str) else (self.fonts,)
        unknown = [f for f in fonts if f not in FONTS]
        if unknown or not fonts:
            raise SyntheticDataError(f"unknown font {unknown[0]!r}; choose from {', '.join(FONTS)}" if unknown
                                     else "pick at least one font")
        out = {"fonts": fonts}
        for name, (label, unit, (lo, hi)) in RANGES.items():
            r = getattr(self, name)
            try:
                a, b = (float(v) for v in r)
            except (TypeError, ValueError):
                raise SyntheticDataError(f"{label} must be a range (low, high), got {r!r}") from None
            if not (lo <= a <= b <= hi):
                raise SyntheticDataError(f"{label} ({unit}) must be low <= high within {lo:g} to {hi:g}, "
                                         f"got {a:g} to {b:g}")
            out[name] = (a, b)
        return RenderSettings(**out)

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}



def settings_from(d: dict) -> RenderSettings:
    """:class:`RenderSettings` from :meth:`RenderSettings.to_dict` output (a saved run's), checked."""
    try:
        return RenderSettings(**{k: tuple(v) for k, v in d.items()}).check()
    except TypeError as e:
        raise SyntheticDataError(f"not rendering settings: {e}") from None



@lru_cache(maxsize=512)
def _font(name: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_dir() / FONTS[name]), size)


def _glyph(digit: int, font: str, height: float, stroke: float, rotation: float, shear: float):
    """One digit's ink at ``SCALE`` x resolution, sheared and rotated, cropped to its ink (a PIL ``L`` image)."""
    from PIL import Image, ImageDraw

    size = max(4, int(round(height * SCALE * 1.4)))  # DejaVu's digits are about 0.73 of the em size
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size, size), str(digit), fill=255, font=_font(font, size), anchor="mm",
                                stroke_width=int(round(stroke * SCALE / 2)), stroke_fill=255)
    ink = canvas.crop(canvas.getbbox())
    t = np.deg2rad(rotation)
    # shear (x += shear * height above the centre), then rotate anticlockwise; image y points down
    fwd = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) @ np.array([[1.0, -shear], [0.0, 1.0]])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array(ink.size) / 2
    side = int(np.ceil(2 * np.abs(corners @ fwd.T).max())) + 2  # holds the transformed ink
    canvas = Image.new("L", (side, side), 0)
    canvas.paste(ink, ((side - ink.size[0]) // 2, (side - ink.size[1]) // 2))
    inv = np.linalg.inv(fwd)  # PIL maps each output pixel back to the input pixel it comes from
    off = side / 2 - inv @ np.array([side / 2, side / 2])
    canvas = canvas.transform(canvas.size, Image.AFFINE, (*inv[0], off[0], *inv[1], off[1]), Image.BILINEAR)
    return canvas.crop(canvas.getbbox())


def render(n: int, settings: RenderSettings = RenderSettings(), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered digits: ``(images float32 in [0, 1] of shape (n, 28, 28), labels int of shape (n,))``.

    MNIST's polarity (ink 1, background 0) and layout: the glyph is scaled to
    its drawn height (at most 20 pixels on its longer side) and centred by its
    centre of mass, then moved, blurred and noised. Labels are balanced (each
    digit ``n / 10`` times, in a random order, so prefixes are balanced too).
    The same ``n``, settings and seed give the same arrays.
    """
    from PIL import Image
    from scipy.ndimage import center_of_mass, gaussian_filter
    from scipy.ndimage import shift as move

    if not isinstance(n, (int, np.integer)) or n < 1:
        raise SyntheticDataError(f"the number of digits to render must be a whole number >= 1, got {n!r}")
    s = settings.check()
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    out = np.zeros((n, SIDE, SIDE), np.float32)
    for i, digit in enumerate(labels):
        font = s.fonts[rng.integers(len(s.fonts))]
        height, rotation, shear, stroke, blur, noise, dx, dy = (
            rng.uniform(*r) for r in (s.height, s.rotation, s.shear, s.stroke, s.blur, s.noise, s.shift, s.shift))
        glyph = _glyph(int(digit), font, height, stroke, rotation, shear)
        w, h = glyph.size
        k = min(height * SCALE / h, BOX * SCALE / max(w, h)) / SCALE
        glyph = glyph.resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)
        ink = np.asarray(glyph, np.float32) / 255.0
        img = np.zeros((SIDE, SIDE), np.float32)
        y0, x0 = (SIDE - ink.shape[0]) // 2, (SIDE - ink.shape[1]) // 2
        img[y0:y0 + ink.shape[0], x0:x0 + ink.shape[1]] = ink
        cy, cx = center_of_mass(img)
        img = move(img, ((SIDE - 1) / 2 - cy + dy, (SIDE - 1) / 2 - cx + dx), order=1)
        if blur > 0:
            img = gaussian_filter(img, blur)
        img = img / max(float(img.max()), 1e-6) + rng.standard_normal(img.shape).astype(np.float32) * noise
        out[i] = np.clip(img, 0, 1)
    return out, labels
