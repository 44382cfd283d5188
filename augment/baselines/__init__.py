"""Baselines that ``augment`` compares its own generators against.

``augment.baselines.sdv`` wraps SDV's synthesizers (an optional extra, ``pip install
'augment[sdv]'``; SDV is under the Business Source License and is used through its public API
only). Importing this package never imports SDV.
"""
