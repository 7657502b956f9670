"""The blob layer: refs, the codec (compress + encrypt + hash) and the stores."""
