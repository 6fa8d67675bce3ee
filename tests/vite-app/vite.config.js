// Served under /app/ to check that the package's asset URLs survive a base path; module workers
// keep the worker's own imports (the wasm glue) as ES modules.
export default {
  base: "/app/",
  worker: { format: "es" },
  build: { chunkSizeWarningLimit: 4096 },
};
