"""What the app computes and writes beside the read-only results database: occlusion and
saliency maps (`attribution`) and their writable cache file (`attribution_cache`)."""
