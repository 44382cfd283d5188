"""Image evaluation."""
