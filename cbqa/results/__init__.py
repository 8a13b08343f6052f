"""The results registry (`registry.yaml`: every published number, as data), the pages drawn from it, and the
re-check behind `cbqa reproduce`."""
