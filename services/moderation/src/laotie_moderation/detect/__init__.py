"""Pure detectors of the Thunder Plan: text in, findings out, no I/O."""
