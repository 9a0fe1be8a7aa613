"""Gradio-free pipelines over the models: what the app's tabs, the HTTP API and the CLI share
(as diffusers' pipelines sit over its models). Each prepares its input the way training did.

- :mod:`explorer.pipelines.explore` — latent request (seed or custom latent, truncation, direction
  and layer edits, style mixing) → image: the Explore tab, its slider previews, the API's generate.
- :mod:`explorer.pipelines.translate` — image → image with a translator or an upscaler (sizing,
  tiling): the Stylize tab, the API's translate, ``gan-explorer translate`` / ``upscale``;
  :func:`explorer.superres.compare` adds the bicubic baseline and PSNR for the Stylize tab.
- :mod:`explorer.pipelines.score` — what a discriminator says about one picture and about whole
  sets (the overfitting check): the Discriminator tab, the API's score, ``gan-explorer score``.
- :mod:`explorer.pipelines.invert` — GAN inversion (image → latent) and the latent file layout;
  the Stylize tab's "Invert" and ``gan-explorer invert``.
"""
