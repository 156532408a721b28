"""desktune serve: an OpenAI-compatible API (/v1/models, /v1/chat/completions) over a trained run, through infer/."""
