"""The detectors' precision and recall on their labelled corpus (``make detectors``); the
detectors themselves are in :mod:`laotie_moderation.domain`."""
