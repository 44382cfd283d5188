"""Built-in datasets shipped inside the package, so the default pipeline runs offline."""
