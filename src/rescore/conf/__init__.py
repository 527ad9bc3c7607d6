# Makes the shipped configs importable as `rescore.conf`: Hydra finds them this way
# when the app starts from the `rescore` console script.
