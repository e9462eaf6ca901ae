"""The analysis core: settings, audio input, the stages and the incremental processor."""
