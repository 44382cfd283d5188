"""The evaluation core both modalities share: statistics, recipe names, run helpers, output."""
