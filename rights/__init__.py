"""Rights protection (维权): officers' applications, evidence custody and the office's review."""
