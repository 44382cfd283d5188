"""The evaluation core both modalities share: statistics, recipes as data, the typed result, the
one verdict builder, the Markdown summary's shared tables, the writer and the gain figures."""
