"""desktune: fine-tune open language models on the machine you already have."""

import logging

__version__ = "0.1.0"

# bitsandbytes, which PEFT imports wherever it is installed, warns at import on a CPU it has no hub kernel for
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
