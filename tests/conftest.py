import os

import torch

# Two cores, several test processes: keep torch from oversubscribing.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
