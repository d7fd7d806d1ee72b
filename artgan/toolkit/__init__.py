"""The model author's toolkit: the pieces both built-in models are made of, for any model plugin.

- :mod:`artgan.toolkit.augment`: differentiable augmentation of what D sees, fixed or adaptive (ADA);
  its options are in :mod:`artgan.toolkit.augment_options`.
- :mod:`artgan.toolkit.precision`: which number format a run trains in, and ``MixedPrecision``.
- :mod:`artgan.toolkit.averaging`: the moving average of G that samples and films come from.
- :mod:`artgan.toolkit.regularisation`: R1 and lazy regularisation of D.
- :mod:`artgan.toolkit.layers`: layers the built-in models share (minibatch standard deviation).

Each imports torch but ``augment_options``; import the module you need (this package imports none
of them). A model plugin's options module imports only ``augment_options``, so that listing plugins
and checking recipes stay free of torch (docs/writing-plugins.md, "Keep start-up fast").
"""
