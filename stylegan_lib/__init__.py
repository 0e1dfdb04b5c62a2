"""stylegan_lib: style transfer and GAN image translation, library behind the Gradio app.

Nothing here loads weights at import time: models are fetched lazily through
:mod:`stylegan_lib.hub` the first time a caller asks for them.
"""

__version__ = "0.1.0"
