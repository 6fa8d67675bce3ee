// The errors wasmrag's JavaScript API rejects with: an `Error` with a stable `code`, so a page
// can tell a corrupt index from a network failure without reading messages.

/** Every `code` an error can carry; `ErrorCode` in index.d.ts lists the same names. */
export const ERROR_CODES = Object.freeze([
  // The index file.
  "index_corrupt",
  "index_version",
  "index_changed",
  "nothing_indexed",
  // The models.
  "model_invalid",
  "model_mismatch",
  "no_generator",
  "prompt_too_long",
  // Fetching files.
  "network",
  "integrity",
  // The caller's input.
  "empty_query",
  "invalid_option",
  "document_too_large",
  "document_invalid",
  "callback",
  // The runtime.
  "busy",
  "invalid_state",
  "compute",
  "out_of_memory",
  "gpu_unavailable",
  "gpu_unsupported",
  "gpu_lost",
  "gpu_error",
  "runtime_crashed",
  "terminated",
  "aborted",
  "internal",
]);

/** An error from wasmrag; `code` is one of `ERROR_CODES`. */
export class WasmragError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "WasmragError";
    this.code = code;
  }
}

/** Throws `invalid_option` when `options` has a key not in `known` (a misspelt option). */
export function checkOptions(options, known, what) {
  if (options === undefined || options === null) return;
  if (typeof options !== "object") throw new WasmragError("invalid_option", `${what} must be an object`);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new WasmragError("invalid_option", `invalid ${what}: unknown option \`${key}\`, expected one of ${known.join(", ")}`);
  }
}
