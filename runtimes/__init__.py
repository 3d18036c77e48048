"""The ML runtimes Origami drives on both sides: TFLM (in a subprocess: it segfaults on a small
arena) and LiteRT. The pipeline measures variants with them; virtual boards run models with them."""
