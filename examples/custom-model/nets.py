"""The wine Model's own architecture (`entryPoint: nets:wine_mlp` in model.yaml).

Origami calls the function by keyword, once per training, as

    wine_mlp(input_shape=(13,), outputs=3, task="classification")

- `input_shape`: one sample's shape without the batch axis, after the Dataset's preprocessing
  (normalised features; windowed series are (steps, channels), images (height, width, channels)).
- `outputs`: the number of classes (their order is the Dataset's class order, shown in the model
  card), or 1 for a regression Dataset.
- `task`: "classification" or "regression", the Dataset's task.

It returns a tf_keras (Keras 2) `Model`, compiled or not: Origami compiles it with the Model's
`training` settings (sparse categorical cross-entropy or MSE), trains, squeezes and measures it. A
classifier must end in a softmax over `outputs` classes (probabilities, not logits); a regressor in
one linear unit. The build checks both and says so otherwise. Use layers TFLM runs (Dense, Conv,
pooling, Flatten, ReLU, softmax) when the Model goes to microcontrollers: a variant TFLM cannot run
is not eligible for them, and `origami build` says why.
"""
import tf_keras as keras


def wine_mlp(input_shape, outputs, task):
    inputs = keras.Input(shape=input_shape, name="features")
    x = keras.layers.Dense(24, activation="relu", name="dense_0")(inputs)
    x = keras.layers.Dropout(0.1)(x)  # training only: it is no operator in the converted model
    x = keras.layers.Dense(12, activation="relu", name="dense_1")(x)
    if task == "classification":
        head = keras.layers.Dense(outputs, activation="softmax", name="probabilities")(x)
    else:
        head = keras.layers.Dense(1, name="value")(x)
    return keras.Model(inputs, head, name="wine_mlp")
