"""The Thunder Plan's rules without I/O: the detectors (text in, findings out), and the
decisions a violation leads to (its id, the ladder step, the measures, the points year)."""
