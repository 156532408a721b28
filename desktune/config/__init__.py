from desktune.config.load import load_config
from desktune.config.schema import Config

__all__ = ["Config", "load_config"]
