"""desktune ui: a local web page over the runs folder (runs, live curves, compare, chat, start/stop)."""
