"""image-review: reviews pull requests for container-image changes.

The packages are layers; docs/architecture.md says what each does and may import.
"""
