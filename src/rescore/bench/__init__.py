"""`python -m rescore.bench model=resnet20 …`: how fast rescore trains, and against what.

In one process, one after another (each after its own warm-up, which is not counted):
1. bare: the compiled train step alone, on tensors already on the device;
2. loop: rescore's real `train_loop` (host batch gathering, in-step augmentation, the
   per-call sync), with evaluation, logging and checkpoints out of the way;
3. keras: the same model in Keras `compile` + `fit` (SGD momentum 0.9), fed by a tf.data
   pipeline with the same augmentation.
loop/bare says what the loop and input pipeline cost; loop/keras how rescore compares with
the stock way of training the model. Figures go to stdout and a JSON file.
"""
