"""Model families.

Each family lives in its own module and registers itself with
``@register_family(name)``; :func:`explorer.registry.get_family` imports the built-in
family modules on first use, so importing ``explorer`` stays cheap.
"""

from explorer.models.base import DiscriminatorOutput, GANModel

BUILTIN_FAMILY_MODULES = ("dcgan", "stylegan", "cyclegan", "srgan", "classifier")

__all__ = ["BUILTIN_FAMILY_MODULES", "DiscriminatorOutput", "GANModel"]
