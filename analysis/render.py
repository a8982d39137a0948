"""Draw ground-truth and predicted boxes on an image.

Styles are colour-blind safe (Okabe-Ito palette) and differ in more than
colour: ground truth is a solid blue box with its class above it; predictions
are dashed orange boxes with class and confidence below them.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

GT_COLOR = (0, 114, 178)  # Okabe-Ito blue
PRED_COLOR = (230, 159, 0)  # Okabe-Ito orange


def _dashed_rectangle(draw, box, color, width, dash=6):
    x0, y0, x1, y1 = box
    for a, b, horizontal, fixed in ((x0, x1, True, y0), (x0, x1, True, y1), (y0, y1, False, x0), (y0, y1, False, x1)):
        start = a
        while start < b:
            end = min(start + dash, b)
            line = [(start, fixed), (end, fixed)] if horizontal else [(fixed, start), (fixed, end)]
            draw.line(line, fill=color, width=width)
            start += 2 * dash


def draw_boxes(image: Image.Image, gt=(), predictions=(), *, scale: float = 1.0) -> Image.Image:
    """Return an RGB copy of ``image`` resized by ``scale`` with the boxes drawn.

    Args:
        gt: iterable of ``(label, [x, y, w, h])`` boxes relative to the image
            size (FiftyOne's convention, values in [0, 1]).
        predictions: iterable of ``(label, [x, y, w, h], confidence)``.
        scale: output size / input size (small images are enlarged so that
            labels stay readable).
    """
    image = image.convert("RGB")
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.NEAREST)
    w, h = image.size
    draw = ImageDraw.Draw(image)
    line = max(1, round(min(w, h) / 200))

    def pixels(box):
        x, y, bw, bh = box
        return x * w, y * h, (x + bw) * w, (y + bh) * h

    for label, box in gt:
        x0, y0, x1, y1 = pixels(box)
        draw.rectangle((x0, y0, x1, y1), outline=GT_COLOR, width=line + 1)
        draw.text((x0 + 2, max(0, y0 - 11)), str(label), fill=GT_COLOR)
    for label, box, confidence in predictions:
        x0, y0, x1, y1 = pixels(box)
        _dashed_rectangle(draw, (x0, y0, x1, y1), PRED_COLOR, line)
        text = f"{label} {confidence:.2f}" if confidence is not None else str(label)
        draw.text((x0 + 2, min(h - 11, y1 + 1)), text, fill=PRED_COLOR)
    return image
