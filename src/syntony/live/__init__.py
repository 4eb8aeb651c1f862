"""Live group synchrony: LSL streams in, synchrony and coupling online, a dashboard out."""
