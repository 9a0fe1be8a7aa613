"""The reference for the UI benchmarks: a plain Gradio app around the same DCGAN.

What a careful user would write in a few lines with Gradio's defaults: import torch and gradio,
load the generator, one ``gr.Slider`` (truncation ψ) whose ``.input`` renders into one
``gr.Image`` (default format, default queue, ``trigger_mode="always_last"``). The element ids
match the Explore tab's (``explore-trunc``, ``explore-image``), so the same browser probe measures
both. ``bench_ui_latency.py --clients`` and ``bench_start.py`` run it next to GAN Explorer.

Run: ``python bench/plain_app.py CHECKPOINT PORT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(checkpoint: str, port: int) -> None:
    import gradio as gr
    import torch

    import explorer

    model = explorer.load(checkpoint)
    z = explorer.latents_from_seeds(model, [0])
    labels = torch.zeros(1, dtype=torch.long) if model.num_classes else None

    def render(psi):
        with torch.no_grad():
            x = model.generate(z, labels, truncation=float(psi))  # [1, C, H, W] in [-1, 1]
        arr = ((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
        return arr[:, :, 0] if arr.shape[2] == 1 else arr

    with gr.Blocks(title="plain DCGAN") as demo:
        psi = gr.Slider(0.0, 1.5, value=1.0, step=0.01, label="Truncation ψ", elem_id="explore-trunc")
        image = gr.Image(label="Image", height=380, elem_id="explore-image")
        psi.input(render, psi, image, trigger_mode="always_last")
        demo.load(render, psi, image)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
