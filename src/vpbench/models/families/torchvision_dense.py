"""Dense torchvision ImageNet classifiers (filled in by the model-zoo work)."""
