// Runs a TensorFlow.js Layers model in node with @tensorflow/tfjs (pure-JS CPU backend) and writes
// its output, for tests/test_tfjs.py's equality check against our PyTorch import.
// usage: node tfjs_predict.js MODEL_JSON INPUT_F32 N H W C OUTPUT_F32
//   INPUT_F32: little-endian float32, NHWC (what the model is fed, in its own value range)
//   prints {"backend", "shape", "version"} as JSON; OUTPUT_F32 receives the output, NHWC float32.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// UpscalerJS' two custom layers (its ESRGAN files name them), written from their documented behaviour:
// MultiplyBeta scales by beta (0.2 unless the config says otherwise); PixelShuffle is depth_to_space.
class MultiplyBeta extends tf.layers.Layer {
  constructor(config) {
    super({ name: config.name, trainable: config.trainable, dtype: config.dtype });
    this.beta = config.beta === undefined ? 0.2 : config.beta;
  }
  call(inputs) { return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, this.beta); }
  getConfig() { return Object.assign(super.getConfig(), { beta: this.beta }); }
}
MultiplyBeta.className = 'MultiplyBeta';

class PixelShuffle extends tf.layers.Layer {
  constructor(config) {
    super({ name: config.name, trainable: config.trainable, dtype: config.dtype });
    this.scale = config.scale;
  }
  computeOutputShape(s) {
    const up = (d) => (d === null ? null : d * this.scale);
    return [s[0], up(s[1]), up(s[2]), s[3] / (this.scale * this.scale)];
  }
  call(inputs) { return tf.depthToSpace(Array.isArray(inputs) ? inputs[0] : inputs, this.scale, 'NHWC'); }
  getConfig() { return Object.assign(super.getConfig(), { scale: this.scale }); }
}
PixelShuffle.className = 'PixelShuffle';
tf.serialization.registerClass(MultiplyBeta);
tf.serialization.registerClass(PixelShuffle);

async function main() {
  const [modelJson, inPath, n, h, w, c, outPath] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const specs = [].concat(...model.weightsManifest.map((g) => g.weights));
  const shards = [].concat(...model.weightsManifest.map((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelJson), p)))));
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const net = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData }));
  const raw = fs.readFileSync(inPath);
  const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [+n, +h, +w, +c]);
  const y = net.predict(x);
  fs.writeFileSync(outPath, Buffer.from((await y.data()).buffer));
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), shape: y.shape, version: tf.version.tfjs }) + '\n');
}

main().catch((err) => { process.stderr.write(String(err && err.message || err) + '\n'); process.exit(1); });
