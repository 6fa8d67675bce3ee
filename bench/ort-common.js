// transformers.js imports `Tensor` from onnxruntime-common; in the browser bundle of
// onnxruntime-web that class lives inside the bundle, so hand out the bundle's own.
export { Tensor } from "onnxruntime-web/webgpu";
