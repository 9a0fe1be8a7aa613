"""Gradio-free pipelines over the models: what the app's tabs, the HTTP API and the CLI share.

- :mod:`explorer.pipelines.invert` — GAN inversion (image → latent) and the latent file layout;
  the Stylize tab's "Invert" and ``gan-explorer invert``.
"""
