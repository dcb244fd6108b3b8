"""Moving models in and out of plmkit: ``hf`` (transformers BERT / GPT-2), ``elmo`` (ELMo weight files).

Import the submodule you need (``from plmkit.interop.hf import from_hf``); each imports its
optional dependency (transformers, h5py) only when called.
"""
