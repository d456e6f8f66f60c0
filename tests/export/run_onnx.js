// Runs an exported model.onnx in ONNX Runtime (onnxruntime-node, CPU).
//
//   node run_onnx.js MODEL.onnx INPUT.bin N S OUTPUT.bin
//
// INPUT.bin: N*3*S*S little-endian float32 (`image`, [N,3,S,S]).
// OUTPUT.bin: the `embedding` output as little-endian float32; its shape is
// printed on stdout as JSON. The package is found through NODE_PATH (the
// export test points it at the folder .ci/run installs into).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputPath, nText, sText, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new Error('usage: node run_onnx.js MODEL.onnx INPUT.bin N S OUTPUT.bin');
  const n = Number(nText), s = Number(sText);
  const bytes = fs.readFileSync(inputPath);
  const pixels = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (pixels.length !== n * 3 * s * s) throw new Error(`${inputPath}: ${pixels.length} floats, want ${n * 3 * s * s}`);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const result = await session.run({ image: new ort.Tensor('float32', pixels, [n, 3, s, s]) });
  const out = result.embedding;
  if (!out || out.type !== 'float32') throw new Error('no float32 output named embedding');
  fs.writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(JSON.stringify({ inputs: session.inputNames, outputs: session.outputNames, shape: out.dims }));
}

main().catch((e) => {
  console.error(`run_onnx.js: ${e.message || e}`);
  process.exit(1);
});
