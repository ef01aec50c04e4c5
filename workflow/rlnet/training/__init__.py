"""Training: datasets and augmentation, the loop with early stopping and resume, devices."""
