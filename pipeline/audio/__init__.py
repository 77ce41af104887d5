"""Audio and utterance text on their way to the models: PCM and resampling, segmentation, redaction."""
